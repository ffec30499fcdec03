"""The browser app: watch the market and the grid evolve live (Mesa SolaraViz with plotly figures)."""
