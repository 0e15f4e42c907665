"""The protocol tests share their checks through ``vectors``: pytest rewrites its asserts too."""

import pytest

pytest.register_assert_rewrite("tests.cedetect.protocols.vectors")
