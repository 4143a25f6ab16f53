"""FIND (Function INterpretation and Description) benchmark: function generators and the on-disk layout."""

from jaxinterp.agent.find.benchmark import BenchmarkEntry, format_pairs, read_benchmark, write_benchmark
from jaxinterp.agent.find.functions import NMSE_THRESHOLD, NUMERIC_TEST_INPUTS, FindFunction, run_code
from jaxinterp.agent.find.numeric import numeric_functions
from jaxinterp.agent.find.strings import string_functions

__all__ = [
    "NMSE_THRESHOLD",
    "NUMERIC_TEST_INPUTS",
    "BenchmarkEntry",
    "FindFunction",
    "format_pairs",
    "numeric_functions",
    "read_benchmark",
    "run_code",
    "string_functions",
    "write_benchmark",
]
