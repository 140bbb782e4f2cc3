"""A dependency's ImportError/AttributeError as one line naming the package and its installed version."""

from __future__ import annotations

import importlib.metadata

import cv2
import numpy as np
import pytest

from posetrack_cli.errors import DependencyError, dependency_calls, dependency_failure


def raised(action) -> BaseException:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the test looks at whatever was raised
        return exc
    raise AssertionError("nothing was raised")


def missing_module_attribute():
    return cv2.no_such_function_in_opencv


def missing_name():
    from numpy import no_such_name_in_numpy  # noqa: F401


def missing_module():
    import posetrack_test_no_such_module  # noqa: F401


def inside_numpy():
    np.lib.format.write_array(None, np.zeros(1))  # numpy's own code calls None.write


def our_bug():
    return None.attribute  # noqa - an error of ours, not of a dependency


CV2 = importlib.metadata.version("opencv-python")
NUMPY = importlib.metadata.version("numpy")


@pytest.mark.parametrize("action,expected", [
    (missing_module_attribute, f"needs cv2.no_such_function_in_opencv; installed opencv-python {CV2} lacks it"),
    (missing_name, f"needs numpy.no_such_name_in_numpy; installed numpy {NUMPY} lacks it"),
    (missing_module, "needs the module posetrack_test_no_such_module, which is not installed"),
    (inside_numpy, f"numpy {NUMPY} failed in numpy."),
])
def test_dependency_failures_name_the_package_and_version(action, expected):
    error = dependency_failure(raised(action))
    assert isinstance(error, DependencyError) and error.exit_code == 5
    assert expected in str(error) and str(error).endswith("run posetrack doctor")
    assert "\n" not in str(error)


def test_our_own_errors_are_not_blamed_on_a_dependency():
    assert dependency_failure(raised(our_bug)) is None
    assert dependency_failure(ValueError("x")) is None


def test_adapter_wrapper_names_the_user_and_passes_other_errors():
    with pytest.raises(DependencyError, match=rf"^Thing needs cv2.nothing_here; installed opencv-python {CV2} "
                                              r"lacks it; use another; run posetrack doctor$"):
        with dependency_calls("Thing", "use another"):
            getattr(cv2, "nothing_here")
    with pytest.raises(ZeroDivisionError):
        with dependency_calls("Thing"):
            1 / 0
