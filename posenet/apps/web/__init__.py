"""The self-contained browser page of ``posenet export --format web`` (builder), with the pinned npm packages its
TF.js scripts come from (npm)."""
