"""Prints the CloudFormation that SAM's own translator (samtranslator, in SAM CLI's
environment) makes of a SAM template: `sam_transform.py TEMPLATE`. No AWS call is made."""

import json
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The templates name no managed policy by name, so none is looked up."""

    def load(self):
        return {}


with open(sys.argv[1], encoding="utf-8") as f:
    template = yaml_parse(f.read())
# What `sam package` does before the transform: local code becomes an uploaded object.
for name, resource in template["Resources"].items():
    for key in ("CodeUri", "ContentUri"):
        if key in resource.get("Properties", {}):
            resource["Properties"][key] = f"s3://packaged/{name}.zip"
print(json.dumps(transform(template, {}, NoManagedPolicies())))
