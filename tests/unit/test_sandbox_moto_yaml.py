"""sandbox/moto_yaml.py: moto's CloudFormation parses templates with libyaml, to the same data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from moto.cloudformation import models, responses
from moto.cloudformation.models import Stack
from moto.cloudformation.utils import yaml_tag_constructor

from adinsights_ops.sandbox.moto_yaml import use_libyaml

TEMPLATE = Path(__file__).parents[2] / "infrastructure" / "cloudformation" / "network-data.yaml"

pytestmark = pytest.mark.skipif(
    not yaml.__with_libyaml__, reason="PyYAML without libyaml: moto is left as it is"
)


def test_moto_parses_with_libyaml_to_what_its_own_loader_gives() -> None:
    text = TEMPLATE.read_text()
    yaml.add_multi_constructor("", yaml_tag_constructor)  # as moto does, on the pure loader
    expected = yaml.load(text, Loader=yaml.Loader)
    assert "!Ref" in text or "!Sub" in text  # short forms: the tag constructor is exercised
    assert use_libyaml() and use_libyaml()  # idempotent
    for module in (models, responses):
        assert module.yaml.Loader is yaml.CLoader
    assert Stack.parse_template(text) == expected
    assert Stack.parse_template(json.dumps({"Resources": {}})) == {"Resources": {}}
    with pytest.raises(json.JSONDecodeError):  # not YAML: moto falls back to JSON, as before
        Stack.parse_template("a: [1, 2")
    assert yaml.Loader.__module__ == "yaml.loader"  # the rest of the process keeps its yaml


def test_a_sandbox_server_patches_moto_at_its_first_cloudformation_request_not_before() -> None:
    """Importing moto's CloudFormation is half a second, which most sandboxes never need: the
    server's dispatcher patches it once a request has loaded it, and a fresh process shows both."""
    script = """
import sys
import yaml
from moto.moto_server.werkzeug_app import create_backend_app
from werkzeug.test import EnvironBuilder
from adinsights_ops.sandbox import moto_yaml
from adinsights_ops.sandbox.server import _Dispatcher

assert not moto_yaml.use_libyaml(loaded_only=True)
assert "moto.cloudformation.models" not in sys.modules
scope = "x/20260101/eu-west-1/cloudformation/aws4_request"
environ = EnvironBuilder(
    method="POST",
    headers={"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=x"},
    data="Action=ListStacks",
).get_environ()
_Dispatcher(create_backend_app).get_application(environ)
from moto.cloudformation import models
assert models.yaml.Loader is yaml.CLoader
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
