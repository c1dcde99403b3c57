"""One report, from request to reader: `request` (check and store a queued run), `steps` (what a run does),
`views` (status, progress and documents for people), `links` (where each of them is served)."""
