"""Running lemgrid: the command line, single runs and (later) sweeps."""
