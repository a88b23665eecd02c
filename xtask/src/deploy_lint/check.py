"""Checks behind `cargo xtask deploy-lint` that need a YAML parser.

Run by the xtask with the deploy-lint venv's Python (PyYAML and
kubernetes-validate come from there); written next to the venv at every run.

  check.py k8s --kube-version V --node NODE --servicemonitor-script S FILE...
      every document of every FILE must validate: built-in kinds against
      kubernetes-validate's bundled schemas (strict: unknown fields fail),
      ServiceMonitor with the validator generated from the Prometheus
      Operator CRD (npm @kubernetes-models/prometheus-operator), anything
      else is an error (no silent "no schema" pass).
  check.py compose FILE...
      what `docker compose config` would refuse beyond the schema: services
      named in depends_on, and secrets/volumes/networks a service uses,
      must be declared.
  check.py same PLAIN_DIR RENDERED_FILE
      the Helm rendering matches the plain manifests in substance: the same
      objects (kind, name) with the same spec, labels and Helm-only
      annotations aside.
"""

import argparse
import json
import pathlib
import subprocess
import sys

import yaml
import kubernetes_validate


def documents(path):
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def describe(doc):
    name = (doc.get("metadata") or {}).get("name", "?")
    return f"{doc.get('kind', '?')}/{name}"


def check_k8s(args):
    failures = 0
    monitors = []
    for path in args.files:
        for doc in documents(path):
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                print(f"ERROR {path}: a document without kind/apiVersion")
                failures += 1
                continue
            if doc["apiVersion"] == "monitoring.coreos.com/v1" and doc["kind"] == "ServiceMonitor":
                monitors.append((path, doc))
                continue
            try:
                kubernetes_validate.validate(doc, args.kube_version, strict=True)
                print(f"ok    {path}: {describe(doc)}")
            except kubernetes_validate.ValidationError as err:
                where = ".".join(str(part) for part in err.path)
                print(f"ERROR {path}: {describe(doc)}: {where}: {err.message}")
                failures += 1
            except kubernetes_validate.SchemaNotFoundError as err:
                print(f"ERROR {path}: {describe(doc)}: {err.message}")
                failures += 1
    if monitors:
        payload = json.dumps([doc for _, doc in monitors])
        result = subprocess.run([args.node, args.servicemonitor_script], input=payload, text=True,
                                capture_output=True, check=False)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.returncode != 0:
            failures += 1
    return 1 if failures else 0


def check_compose(args):
    failures = 0
    for path in args.files:
        before = failures
        spec = documents(path)[0]
        services = spec.get("services") or {}
        declared = {kind: set((spec.get(kind) or {}).keys()) for kind in ("secrets", "volumes", "networks", "configs")}
        for name, service in services.items():
            problems = []
            depends = service.get("depends_on") or []
            for dependency in (depends.keys() if isinstance(depends, dict) else depends):
                if dependency not in services:
                    problems.append(f"depends_on an undefined service {dependency!r}")
                elif isinstance(depends, dict):
                    condition = depends[dependency].get("condition")
                    has_check = "healthcheck" in services[dependency]
                    if condition == "service_healthy" and not has_check:
                        problems.append(f"waits for {dependency!r} to be healthy, which has no healthcheck")
            for kind in ("secrets", "configs"):
                for entry in service.get(kind) or []:
                    source = entry if isinstance(entry, str) else entry.get("source")
                    if source not in declared[kind]:
                        problems.append(f"uses undeclared {kind[:-1]} {source!r}")
            for volume in service.get("volumes") or []:
                source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
                named = source and not source.startswith((".", "/", "~", "$"))
                if named and source not in declared["volumes"]:
                    problems.append(f"uses undeclared volume {source!r}")
            networks = service.get("networks") or []
            for network in (networks.keys() if isinstance(networks, dict) else networks):
                if network != "default" and network not in declared["networks"]:
                    problems.append(f"uses undeclared network {network!r}")
            for problem in problems:
                print(f"ERROR {path}: service {name!r} {problem}")
                failures += 1
        if failures == before:
            print(f"ok    {path}: {len(services)} services, references resolve")
    return 1 if failures else 0


def normalized(doc):
    doc = json.loads(json.dumps(doc))
    meta = doc.get("metadata") or {}
    meta.pop("namespace", None)
    meta.pop("labels", None)
    annotations = {k: v for k, v in (meta.pop("annotations", None) or {}).items() if not k.startswith("checksum/")}
    if annotations:
        meta["annotations"] = annotations
    template = (doc.get("spec") or {}).get("template")
    if isinstance(template, dict):
        template.pop("metadata", None)
    return doc


def differences(left, right, path=""):
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            if key not in left or key not in right:
                yield f"{path}.{key}: only in {'plain' if key in left else 'rendered'}"
            else:
                yield from differences(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right)):
            yield from differences(a, b, f"{path}[{index}]")
    elif left != right:
        yield f"{path}: plain {json.dumps(left)} vs rendered {json.dumps(right)}"


def check_same(args):
    plain = {}
    for path in sorted(pathlib.Path(args.plain_dir).glob("*.yaml")):
        for doc in documents(path):
            if doc["kind"] != "Namespace":
                plain[(doc["kind"], doc["metadata"]["name"])] = doc
    rendered = {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents(args.rendered)}
    failures = 0
    for key in sorted(set(plain) | set(rendered)):
        if key not in rendered or key not in plain:
            print(f"ERROR {key[0]}/{key[1]}: only in the {'plain manifests' if key in plain else 'rendered chart'}")
            failures += 1
            continue
        diff = list(differences(normalized(plain[key]), normalized(rendered[key])))
        for line in diff:
            print(f"ERROR {key[0]}/{key[1]}{line}")
        failures += len(diff)
        if not diff:
            print(f"ok    {key[0]}/{key[1]}: chart and plain manifest agree")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    k8s = commands.add_parser("k8s")
    k8s.add_argument("--kube-version", required=True)
    k8s.add_argument("--node", required=True)
    k8s.add_argument("--servicemonitor-script", required=True)
    k8s.add_argument("files", nargs="+")
    compose = commands.add_parser("compose")
    compose.add_argument("files", nargs="+")
    same = commands.add_parser("same")
    same.add_argument("plain_dir")
    same.add_argument("rendered")
    args = parser.parse_args()
    handler = {"k8s": check_k8s, "compose": check_compose, "same": check_same}[args.command]
    sys.exit(handler(args))


if __name__ == "__main__":
    main()
