"""The page at `/`: server-rendered HTML with SVG charts, no script."""
