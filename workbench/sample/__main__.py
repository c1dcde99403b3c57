"""`python -m workbench.sample --out notebooks/data/sample_survey.json`: write the sample snapshot file."""

from workbench.sample import main

if __name__ == "__main__":  # importing this module (tools that walk every module do) must not write the file
    main()
