"""`psi0 profiles [NAME]`: list the profiles, or print one fully resolved."""
from __future__ import annotations

import argparse
import sys

import yaml

from psi0_bringup.profile import available_profiles, load_profile
from psi0_common.config import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="show this profile resolved (extends and defaults applied)")


def run(args) -> int:
    if not args.name:
        for name, path in available_profiles().items():
            try:
                desc = load_profile(name, check_parameters=False).description
            except ConfigError as exc:
                desc = f"INVALID: {exc}"
            print(f"{name:16s} {desc}  ({path})")
        return 0
    try:
        profile = load_profile(args.name)
    except ConfigError as exc:
        print(f"psi0 profiles: {exc}", file=sys.stderr)
        return 2
    nodes = {n.name: {"package": n.package, "executable": n.executable, "required": n.required,
                      "respawn": n.respawn, "parameters": n.parameters, "remappings": n.remappings}
             for n in profile.nodes}
    print(yaml.safe_dump({"description": profile.description, "env": profile.env, "nodes": nodes}, sort_keys=False))
    return 0
