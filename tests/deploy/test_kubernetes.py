"""deploy/kubernetes checked without a cluster (tests/deploy/test_kube_play.py runs its pods under
podman): every document, as committed and as each kustomization renders it, validated strictly
(an unknown field is an error) against Kubernetes 1.33's schemas (kubernetes-validate) and KServe's
own CRDs (vendored in tests/schemas/); checkov's Kubernetes checks, none failed; and the design the
manifests promise (docs/deploying.md), read from them.

Strict for a CRD means what the API server's strict field validation (kubectl's default) does: a
field a structural schema does not declare is refused unless the schema preserves unknown fields.
JSON Schema lets undeclared fields through, so `structural` adds `additionalProperties: false`
wherever Kubernetes would refuse them, and the list-type rules (a set's items, a map-list's keys,
unique) are checked as the API server checks them."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml

from tests import ROOT
from tests.deploy.kube import (
    DEPLOY,
    KSERVE_GROUP,
    KUSTOMIZATIONS,
    env,
    kustomize,
    manifest_files,
    objects,
    one,
    pod_labels,
    pod_spec,
    tool,
)

KUBERNETES = "1.33"
SCHEMAS = ROOT / "tests" / "schemas"
KSERVE_SCHEMAS = {  # vendored: see tests/schemas/README.md
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): SCHEMAS / "kserve-servingruntime.json",
    ("serving.kserve.io/v1beta1", "InferenceService"): SCHEMAS / "kserve-inferenceservice.json",
}
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COMPOSE_GPU = yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())
DEPLOYING = ROOT / "docs" / "deploying.md"
# The sysctls a default kubelet allows (Kubernetes' "safe" set); any other makes it refuse the pod.
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


@pytest.fixture(scope="module")
def kubectl() -> str:
    return tool("kubectl-env.sh", "kubectl", "kubectl 1.33")


@pytest.fixture(scope="module")
def rendered(kubectl) -> dict[str, list[dict]]:
    return {name: kustomize(kubectl, folder) for name, folder in KUSTOMIZATIONS.items()}


def base() -> list[dict]:
    return [d for p in sorted((DEPLOY / "base").glob("*.yaml")) if p.name != "kustomization.yaml" for d in objects(p)]


def kserve() -> list[dict]:
    return [d for p in sorted((DEPLOY / "kserve").glob("*.yaml")) if p.name != "kustomization.yaml" for d in objects(p)]


# --- strict validation -------------------------------------------------------------------------

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs")


def structural(schema):
    """A CRD's structural schema as JSON Schema that refuses what the API server refuses: an object
    schema gets `additionalProperties: false` unless it says otherwise or preserves unknown fields."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS:
            out[key] = {name: structural(s) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = structural(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [structural(s) for s in value]
        else:
            out[key] = value
    is_object = out.get("type") == "object" or "properties" in out
    if is_object and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def _list_type(validator, list_type, instance, schema):
    if not validator.is_type(instance, "array"):
        return
    if list_type == "set":
        keys = [json.dumps(item, sort_keys=True) for item in instance]
    elif list_type == "map":
        names = schema.get("x-kubernetes-list-map-keys", [])
        keys = [json.dumps([item.get(n) for n in names]) for item in instance]
    else:
        return
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        yield jsonschema.ValidationError(f"{list_type} list with a repeated key: {', '.join(repeated)}")


_CRDValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"x-kubernetes-list-type": _list_type})
_K8S_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"


def _kubernetes_definitions() -> dict:
    """Kubernetes' own definitions as kubernetes-validate ships them (strict), for a custom
    resource's `metadata`, which a CRD leaves to the API server's ObjectMeta."""
    folder = resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{KUBERNETES}.0-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())
    assert definitions["$id"] == _K8S_DEFINITIONS, "kubernetes-validate's layout changed"
    return definitions


def crd_validator(path: Path) -> jsonschema.protocols.Validator:
    schema = structural(json.loads(path.read_text()))
    schema["properties"]["metadata"] = {
        "$ref": f"{_K8S_DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    registry = referencing.Registry().with_resource(
        _K8S_DEFINITIONS, referencing.Resource.from_contents(_kubernetes_definitions())
    )
    return _CRDValidator(schema, registry=registry)


def validation_errors(doc: dict) -> list[str]:
    """Why the API server would refuse `doc` (strict field validation), as `path: message` lines."""
    where = f"{doc.get('kind')} {doc.get('metadata', {}).get('name')}"
    if doc["apiVersion"].split("/")[0] == KSERVE_GROUP:
        path = KSERVE_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if path is None:
            return [f"{where}: no vendored KServe schema for {doc['apiVersion']} {doc['kind']}"]
        return [
            f"{where}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in sorted(crd_validator(path).iter_errors(doc), key=str)
        ]
    try:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{where}: {'.'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"{where}: {e.message}"]
    return []


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_committed_document_validates_strictly(path):
    docs = objects(path)
    assert docs, f"{path.name} holds no document"
    assert [e for doc in docs for e in validation_errors(doc)] == []


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_every_rendered_kustomization_validates_strictly(rendered, name):
    """What `kubectl apply -k` sends: the files after kustomize (namespaces set, overlays patched)."""
    assert rendered[name]
    assert [e for doc in rendered[name] for e in validation_errors(doc)] == []


def _typo(doc: dict) -> dict:
    pod_spec(doc)["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True  # for readOnlyRootFilesystem
    return doc


def _unknown_pod_field(doc: dict) -> dict:
    pod_spec(doc)["sysctl"] = [{"name": "net.ipv4.tcp_migrate_req", "value": "1"}]
    return doc


def _runtime_port_typo(doc: dict) -> dict:
    doc["spec"]["containers"][0]["ports"][0]["containerport"] = 8080
    return doc


def _runtime_repeated_port(doc: dict) -> dict:
    ports = doc["spec"]["containers"][0]["ports"]
    ports.append(dict(ports[0], name="again"))
    return doc


def _isvc_storage_typo(doc: dict) -> dict:
    model = doc["spec"]["predictor"]["model"]
    model["storageURI"] = model.pop("storageUri")
    return doc


def _isvc_metadata_typo(doc: dict) -> dict:
    doc["metadata"]["label"] = {"a": "b"}
    return doc


@pytest.mark.parametrize(
    "source, kind, breaks",
    [
        ("base/serve-deployment.yaml", "Deployment", _typo),
        ("base/train-job.yaml", "Job", _unknown_pod_field),
        ("kserve/servingruntime.yaml", "ServingRuntime", _runtime_port_typo),
        ("kserve/servingruntime.yaml", "ServingRuntime", _runtime_repeated_port),
        ("kserve/inferenceservice.yaml", "InferenceService", _isvc_storage_typo),
        ("kserve/inferenceservice.yaml", "InferenceService", _isvc_metadata_typo),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_the_validation_refuses_what_the_api_server_would(source, kind, breaks):
    """The validators above are strict: a misspelt or unknown field, or a repeated list key, in a
    committed document is refused (as the API server would refuse it)."""
    doc = one(objects(DEPLOY / source), kind)
    assert validation_errors(doc) == []
    assert validation_errors(breaks(copy.deepcopy(doc))), f"{breaks.__name__} was let through"


# --- checkov -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkov() -> str:
    return tool("checkov-env.sh", "checkov-venv", "checkov")


def run_checkov(binary: str, folder: Path) -> dict:
    # --skip-download: no Prisma Cloud look-ups (checks, guidelines); the checks are checkov's own.
    done = subprocess.run(
        [binary, "--directory", str(folder), "--framework", "kubernetes", "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=folder,
    )
    assert done.stdout.lstrip().startswith("{"), (
        f"checkov exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    )
    return json.loads(done.stdout)


def _checked(binary: str, folder: Path) -> tuple[dict, list[dict]]:
    report = run_checkov(binary, folder)
    results = report["results"]
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})" for c in results["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    return results, results["skipped_checks"]


@pytest.mark.parametrize("target", ["committed", "gpu"])
def test_checkov_finds_nothing_failed_and_every_skip_is_explained(checkov, rendered, target, tmp_path):
    """checkov's Kubernetes checks over the committed files, and over the GPU overlay as rendered
    (its Job and CronJob exist only so; the base renders to its files plus the namespace they
    already name). A check not met is skipped in the manifest with checkov's annotation and its
    reason, and docs/deploying.md lists it."""
    if target == "committed":
        folder = DEPLOY
    else:
        folder = tmp_path
        (folder / f"{target}.yaml").write_text(yaml.safe_dump_all(rendered[target]))
    results, skipped = _checked(checkov, folder)
    checked = {c["resource"] for c in results["passed_checks"]}
    for resource in ("Deployment.xorlab.xorlab-serve", "Job.xorlab.xorlab-train", "CronJob.xorlab.xorlab-retrain"):
        assert resource in checked, f"checkov checked nothing of {resource}: {sorted(checked)}"
    documented = DEPLOYING.read_text()
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} on {check['resource']} is skipped without a reason"
        assert f"`{check['check_id']}`" in documented, (
            f"{check['check_id']} is skipped but docs/deploying.md does not say why"
        )


# --- the design, read from the manifests -------------------------------------------------------


def _workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in ("Deployment", "Job", "CronJob", "Pod")]


@pytest.mark.parametrize("name", ["default", "gpu"])
def test_every_pod_meets_the_restricted_pod_security_standard(rendered, name):
    """The namespace enforces Pod Security's "restricted" profile: a pod breaking it would be
    refused by the API server, so it is checked here first. Beyond it: every container as the
    Compose stack runs its services (uid 10001, read-only root, a writable /tmp of its own)."""
    docs = rendered[name]
    namespace = one(docs, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    workloads = _workloads(docs)
    assert {w["kind"] for w in workloads} == {"Deployment", "Job", "CronJob"}
    for workload in workloads:
        where = f"{workload['kind']} {workload['metadata']['name']}"
        assert workload["metadata"]["namespace"] == namespace["metadata"]["name"], where
        spec = pod_spec(workload)
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == pod["runAsGroup"] == 10001, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host), where
        assert not set(s["name"] for s in pod.get("sysctls", [])) - SAFE_SYSCTLS, (
            f"{where}: a sysctl a default kubelet refuses"
        )
        assert spec["automountServiceAccountToken"] is False and spec["enableServiceLinks"] is False, where
        volumes = {v["name"]: v for v in spec["volumes"]}
        for volume in volumes.values():
            assert set(volume) - {"name"} <= {
                "persistentVolumeClaim",
                "emptyDir",
                "configMap",
                "secret",
                "projected",
                "downwardAPI",
                "csi",
                "ephemeral",
            }, f"{where}: {volume}"
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context.get("privileged") is not True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert "runAsUser" not in context or context["runAsUser"] == 10001, where
            assert not any(p.get("hostPort") for p in container.get("ports", [])), where
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]["name"]], f"{where}: /tmp must be a writable emptyDir"


def test_serving_deployment_rolls_without_dropping_below_its_replicas():
    docs = base()
    deployment = one(docs, "Deployment", "xorlab-serve")
    assert "replicas" not in deployment["spec"], "the autoscaler owns the count; a number here resets it at each apply"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] >= 1
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    # preStop: a pause long enough for endpoints to drop the pod; then gunicorn's graceful stop
    # (its in-flight requests), all inside the grace before SIGKILL.
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and int(command[1]) >= 5, command
    from xorlab.serve.config import Settings

    graceful = Settings.from_env(env(container)).graceful_timeout
    assert spec["terminationGracePeriodSeconds"] > int(command[1]) + graceful
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["labelSelector"]["matchLabels"] == pod_labels(
        deployment
    )


def test_probes_ask_the_apps_health_routes_on_its_port():
    from xorlab.serve.app import create_app

    rules = {rule.rule: rule.methods for rule in create_app({"models": str(ROOT / "models")}).url_map.iter_rules()}
    for container, where in (
        (pod_spec(one(base(), "Deployment"))["containers"][0], "Deployment"),
        (one(kserve(), "ServingRuntime")["spec"]["containers"][0], "ServingRuntime"),
    ):
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        bind_port = int(env(container)["XORLAB_BIND"].rpartition(":")[2])
        probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
        assert probes["readinessProbe"]["path"] == "/v2/health/ready", where  # ready: every model loaded
        assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/v2/health/live", where
        for kind, probe in probes.items():
            assert "GET" in rules[probe["path"]], f"{where} {kind}: {probe['path']} is not a route"
            assert ports.get(probe["port"], probe["port"]) == bind_port, f"{where} {kind} asks port {probe['port']}"
        assert container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"] >= 30, where


def test_workers_match_the_cpu_limit_and_the_pod_is_guaranteed():
    """gunicorn counts the node's CPUs, not the container's quota: the workers are set to the limit.
    Requests equal to limits make the autoscaler's percentage a share of exactly that."""
    for container, where in (
        (pod_spec(one(base(), "Deployment"))["containers"][0], "Deployment"),
        (one(kserve(), "ServingRuntime")["spec"]["containers"][0], "ServingRuntime"),
    ):
        resources_ = container["resources"]
        assert resources_["requests"] == resources_["limits"], where
        assert int(env(container)["XORLAB_WORKERS"]) == int(resources_["limits"]["cpu"]), where
    compose = COMPOSE["services"]["serve"]
    limits = pod_spec(one(base(), "Deployment"))["containers"][0]["resources"]["limits"]
    assert float(compose["deploy"]["resources"]["limits"]["cpus"]) == float(limits["cpu"])


def test_serve_reads_read_only_what_training_writes():
    docs = base()
    claim = one(docs, "PersistentVolumeClaim")
    assert "ReadWriteMany" in claim["spec"]["accessModes"], "pods on several nodes mount the claim"
    serve = pod_spec(one(docs, "Deployment"))
    (container,) = serve["containers"]
    volumes = {v["name"]: v for v in serve["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if "persistentVolumeClaim" in volumes[m["name"]]]
    assert mount["readOnly"] is True and volumes[mount["name"]]["persistentVolumeClaim"] == {
        "claimName": claim["metadata"]["name"],
        "readOnly": True,
    }
    assert "subPath" not in mount, "a mount of the published folder itself would not see the next one swapped in"
    served = Path(env(container)["XORLAB_MODELS"]).relative_to(mount["mountPath"])
    for workload in (one(docs, "Job"), one(docs, "CronJob")):
        spec = pod_spec(workload)
        (train,) = spec["containers"]
        (train_mount,) = [m for m in train["volumeMounts"] if m["mountPath"] != "/tmp"]
        assert {v["name"]: v for v in spec["volumes"]}[train_mount["name"]]["persistentVolumeClaim"][
            "claimName"
        ] == claim["metadata"]["name"]
        assert not train_mount.get("readOnly")
        out = Path(train["args"][train["args"].index("--out") + 1])
        # Below the mount, not the mount: publishing renames a new folder into place.
        assert out.relative_to(train_mount["mountPath"]) == served != Path(".")
    assert int(env(container)["XORLAB_POLL_SECONDS"]) > 0, "serve must pick up a retrained repository by itself"


def test_training_runs_once_and_retraining_is_the_same_pod_without_if_missing(rendered):
    docs = base()
    job, cronjob = one(docs, "Job"), one(docs, "CronJob")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert cronjob["spec"]["suspend"] is True, "retraining is started by hand, never on a schedule"
    train, retrain = copy.deepcopy(pod_spec(job)), copy.deepcopy(pod_spec(cronjob))
    assert "--if-missing" in train["containers"][0]["args"]
    train["containers"][0]["args"].remove("--if-missing")
    assert train == retrain, "the retraining pod drifted from the training pod"
    assert pod_labels(job) == pod_labels(cronjob)
    compose = COMPOSE["services"]["train"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == compose["command"], "the Compose stack's run"
    # The GPU overlay: the CUDA image (docker-compose.gpu.yml's), --device cuda, one NVIDIA GPU.
    for workload in (one(rendered["gpu"], "Job"), one(rendered["gpu"], "CronJob")):
        (container,) = pod_spec(workload)["containers"]
        assert container["image"] == COMPOSE_GPU["services"]["train"]["image"]
        assert container["args"][container["args"].index("--device") + 1] == "cuda"
        assert ("--if-missing" in container["args"]) == (workload["kind"] == "Job")
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    for workload in (one(rendered["default"], "Job"), one(rendered["default"], "CronJob")):
        assert "nvidia.com/gpu" not in pod_spec(workload)["containers"][0]["resources"]["limits"]


def test_the_single_node_overlay_changes_only_the_claims_access_mode(rendered):
    default, single = copy.deepcopy(rendered["default"]), copy.deepcopy(rendered["single-node"])
    assert one(default, "PersistentVolumeClaim")["spec"].pop("accessModes") == ["ReadWriteMany"]
    assert one(single, "PersistentVolumeClaim")["spec"].pop("accessModes") == ["ReadWriteOnce"]

    def key(d):
        return d["kind"], d["metadata"]["name"]

    assert sorted(default, key=key) == sorted(single, key=key)


def test_images_are_the_ones_compose_builds():
    for workload in _workloads(base()):
        (container,) = pod_spec(workload)["containers"]
        service = "serve" if workload["kind"] == "Deployment" else "train"
        assert container["image"] == COMPOSE["services"][service]["image"], workload["metadata"]["name"]
    assert one(kserve(), "ServingRuntime")["spec"]["containers"][0]["image"] == COMPOSE["services"]["serve"]["image"]


def test_service_autoscaler_and_budget_select_the_serving_pods():
    docs = base()
    deployment = one(docs, "Deployment")
    labels = pod_labels(deployment)
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = pod_spec(deployment)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {
        "http": int(env(container)["XORLAB_BIND"].rpartition(":")[2]),
        "grpc": int(env(container)["XORLAB_GRPC_BIND"].rpartition(":")[2]),
    }
    service = one(docs, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    by_name = {p["name"]: p for p in service["spec"]["ports"]}
    assert {n: (p["port"], p["targetPort"]) for n, p in by_name.items()} == {
        "http": (8000, "http"),
        "grpc": (8001, "grpc"),
    }
    assert by_name["grpc"]["appProtocol"] == "kubernetes.io/h2c" and by_name["http"]["appProtocol"] == "http"
    autoscaler = one(docs, "HorizontalPodAutoscaler")
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (
        autoscaler["spec"]["minReplicas"] >= 2 and autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]
    )
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and 0 < metric["resource"]["target"]["averageUtilization"] < 100
    budget = one(docs, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] < autoscaler["spec"]["minReplicas"], "a drain must leave a pod serving"


def test_network_policies_let_in_only_the_serving_ports_and_nothing_for_training():
    docs = base()
    policies = {p["metadata"]["name"]: p["spec"] for p in docs if p["kind"] == "NetworkPolicy"}
    serve_labels, train_labels = pod_labels(one(docs, "Deployment")), pod_labels(one(docs, "Job"))
    serve = next(p for p in policies.values() if p["podSelector"]["matchLabels"].items() <= serve_labels.items())
    train = next(p for p in policies.values() if p["podSelector"]["matchLabels"].items() <= train_labels.items())
    assert not serve["podSelector"]["matchLabels"].items() <= train_labels.items()
    for policy in (serve, train):
        assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"] and policy["egress"] == []
    assert train["ingress"] == []
    (rule,) = serve["ingress"]
    assert sorted(p["port"] for p in rule["ports"]) == ["grpc", "http"] and "from" not in rule


def test_kserve_runtime_serves_the_claims_repository_where_kserve_puts_it():
    docs = kserve()
    runtime = one(docs, "ServingRuntime")
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"  # the name KServe merges the predictor's settings into
    assert set(runtime["spec"]["protocolVersions"]) == {"v1", "v2", "grpc-v2"}
    (model_format,) = runtime["spec"]["supportedModelFormats"]
    from xorlab.modelrepo import spec

    assert f"xorlab-manifest/{model_format['version']}" == spec.FORMAT and model_format["name"] == "xorlab"
    settings = env(container)
    assert settings["XORLAB_MODELS"] == "/mnt/models"
    # Hardened as the base's serving container (the pod's own settings are the InferenceService's).
    context = container["securityContext"]
    assert (
        context["runAsNonRoot"] is True
        and context["runAsUser"] == 10001
        and context["allowPrivilegeEscalation"] is False
    )
    assert context["capabilities"] == {"drop": ["ALL"]} and context["readOnlyRootFilesystem"] is True
    (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert "emptyDir" in {v["name"]: v for v in runtime["spec"]["volumes"]}[tmp["name"]]
    ports = [p["containerPort"] for p in container["ports"]]
    # KServe sends HTTP to the first port (its default 8080) and names gRPC's by "h2c" or "grpc".
    assert ports[0] == int(settings["XORLAB_BIND"].rpartition(":")[2]) == 8080
    grpc = [p["containerPort"] for p in container["ports"] if "h2c" in p["name"] or "grpc" in p["name"]]
    assert grpc == [int(settings["XORLAB_GRPC_BIND"].rpartition(":")[2])]
    claim = one(base(), "PersistentVolumeClaim")["metadata"]["name"]
    models = env(pod_spec(one(base(), "Deployment"))["containers"][0])["XORLAB_MODELS"].rpartition("/")[2]
    services = {d["metadata"]["name"]: d["spec"]["predictor"] for d in docs if d["kind"] == "InferenceService"}
    assert services["xorlab"]["model"]["runtime"] == runtime["metadata"]["name"]
    assert services["xorlab"]["model"]["modelFormat"] == {k: model_format[k] for k in ("name", "version")}
    assert services["xorlab-triton"]["model"]["runtime"] == "kserve-tritonserver"
    assert services["xorlab-triton"]["model"]["modelFormat"]["name"] == "triton"
    for name, predictor in services.items():
        assert predictor["model"]["storageUri"] == f"pvc://{claim}/{models}", name
        assert predictor["model"]["protocolVersion"] == "v2", name
        assert predictor["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert predictor["securityContext"]["runAsNonRoot"] is True, name


def test_the_compose_sysctl_is_explained_where_it_is_left_out():
    """docker-compose.yml sets net.ipv4.tcp_migrate_req for serve; a default kubelet refuses it.
    The Deployment and docs/deploying.md say what takes its place."""
    assert "net.ipv4.tcp_migrate_req" in COMPOSE["services"]["serve"]["sysctls"]
    assert "net.ipv4.tcp_migrate_req" not in SAFE_SYSCTLS
    for text in ((DEPLOY / "base" / "serve-deployment.yaml").read_text(), DEPLOYING.read_text()):
        assert re.search(r"net\.ipv4\.tcp_migrate_req", text) and "rolling update" in text and "preStop" in text
