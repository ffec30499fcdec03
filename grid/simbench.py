"""The SimBench LV grids lemgrid ships, converted once from the ``simbench`` package.

SimBench (Meinecke et al., 2020, "SimBench - A Benchmark Dataset of Electric Power
Systems to Compare Innovative Solutions Based on Power Flow Analysis", Energies 13,
3290) ships its grids offline inside the package, but as one CSV data set for all
of them: converting one grid reads it whole (about 9 s each on this machine, 2 cores).
So the three grids are converted once, by ``python -m lemgrid.grid.simbench``, into
``grid/data/<name>.json`` (topology, lines, transformer, loads; SimBench's own PV
units, storage and yearly profiles left out: lemgrid draws its own households'
devices and profiles), and tests/test_feeders.py checks the shipped files against a
fresh conversion.
"""

from pathlib import Path

import pandapower as pp
import pandas as pd

DATA = Path(__file__).parent / "data"

# lemgrid name -> SimBench code: version 1, LV only, scenario 0 (today's load and
# generation), ``no_sw``: bus-bus switches fused, closed line switches dropped.
SIMBENCH_CODES = {
    "simbench_rural1": "1-LV-rural1--0-no_sw",
    "simbench_semiurb4": "1-LV-semiurb4--0-no_sw",
    "simbench_urban6": "1-LV-urban6--0-no_sw",
}


def convert(code: str) -> pp.pandapowerNet:
    """One SimBench grid as a pandapower net, without its generators, storage and profiles."""
    from simbench.converter import csv_data2pp, csv_tablenames
    from simbench.networks.extract_simbench_grids_from_csv import (
        _get_extracted_csv_table,
        complete_data_path,
        generate_no_sw_variant,
        get_relevant_subnets,
        get_simbench_code_and_parameters,
    )

    _, parameters = get_simbench_code_and_parameters(code)
    path = complete_data_path(parameters[5])
    subnets = get_relevant_subnets(parameters, path)
    tables = {
        name: _get_extracted_csv_table(subnets, name, input_path=path)
        for name in csv_tablenames(["elements", "types", "cases"])
    }
    # the yearly profiles are the slow part and lemgrid does not use them
    tables.update({name: pd.DataFrame() for name in csv_tablenames(["profiles"])})
    net = csv_data2pp(tables)
    if not parameters[6]:
        generate_no_sw_variant(net)
    for table in ("sgen", "storage", "measurement"):
        net[table] = net[table].iloc[0:0]
    net.profiles = {}
    return net


def main() -> None:
    """Convert every shipped SimBench grid into ``grid/data/``."""
    DATA.mkdir(exist_ok=True)
    for name, code in SIMBENCH_CODES.items():
        pp.to_json(convert(code), str(DATA / f"{name}.json"))
        print(f"{code} -> {DATA / f'{name}.json'}")


if __name__ == "__main__":
    main()
