"""The /proc/cpuinfo reader shared by the doctor, the report page, the bf16 switch and the benchmarks."""

from __future__ import annotations

from pathlib import Path

from posetrack_cli.io.cpuinfo import read_cpuinfo

TWO_CORES = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx2 fma
processor\t: 1
model name\t: second core, not read
flags\t\t: fpu
"""


def test_first_processor_model_and_flags(tmp_path: Path):
    path = tmp_path / "cpuinfo"
    path.write_text(TWO_CORES)
    assert read_cpuinfo(path) == ("AMD EPYC 7B13", {"fpu", "sse2", "avx2", "fma"})


def test_a_file_without_flags_and_a_missing_file_give_no_flags(tmp_path: Path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: Some ARM core\n")
    assert read_cpuinfo(path) == ("Some ARM core", None)
    model, flags = read_cpuinfo(tmp_path / "missing")
    assert flags is None and model  # a name from the platform module, never empty
