# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""contrib/kubernetes as far as it can be checked without a cluster (CI has
none and may download nothing but Debian packages): the manifests parse,
hold the properties the README promises (non-root, read-only root
filesystem, no capabilities, RuntimeDefault seccomp, probes on the
endpoints brokerd serves, resources, egress only to DNS and 443, workload
identity wired to the service account), and the ConfigMap is a
configuration brokerd accepts: `brokerd --check` runs on it with the
variables the workload-identity webhook would inject.

Each property is checked by `problems()`; the mutation tests hand it copies
of the manifests broken one way each, so a check that could not fail
fails here."""

import copy
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import test_docs  # noqa: E402

SRC = os.environ.get("MAB_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
KDIR = os.path.join(SRC, "contrib", "kubernetes")
WI_CLIENT = "azure.workload.identity/client-id"
WI_USE = "azure.workload.identity/use"


def load():
    """{kind: document} of every manifest the kustomization names."""
    with open(os.path.join(KDIR, "kustomization.yaml"), encoding="utf-8") as f:
        kust = yaml.safe_load(f)
    docs = {"Kustomization": kust}
    for name in kust["resources"]:
        with open(os.path.join(KDIR, name), encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                assert doc["kind"] not in docs, "two %s manifests" % doc["kind"]
                docs[doc["kind"]] = doc
    return docs


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def port_number(container, port):
    """A probe's or service's port (a number or a containerPort name)."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


def http_listen(container):
    args = container.get("args", [])
    if "--http" not in args:
        return None
    return args[args.index("--http") + 1]


def container_problems(c, where):
    out = []
    sc = c.get("securityContext", {})
    if sc.get("allowPrivilegeEscalation") is not False:
        out.append("%s: allowPrivilegeEscalation is not false" % where)
    if sc.get("readOnlyRootFilesystem") is not True:
        out.append("%s: the root filesystem is not read-only" % where)
    caps = sc.get("capabilities", {})
    if caps.get("drop") != ["ALL"] or caps.get("add"):
        out.append("%s: capabilities are not all dropped" % where)
    if sc.get("privileged"):
        out.append("%s: privileged" % where)
    if sc.get("runAsUser") == 0 or sc.get("runAsNonRoot") is False:
        out.append("%s: runs as root" % where)
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for what in ("cpu", "memory"):
            if what not in res.get(kind, {}):
                out.append("%s: no %s %s" % (where, what, kind[:-1]))
    return out


def problems(docs):
    out = []
    dep, sa = docs["Deployment"], docs["ServiceAccount"]
    pod = dep["spec"]["template"]
    spec, labels = pod["spec"], pod["metadata"]["labels"]
    if not labels_match(dep["spec"]["selector"]["matchLabels"], labels):
        out.append("the Deployment's selector does not select its pods")

    # Workload identity: the pods run as the annotated service account.
    if spec.get("serviceAccountName") != sa["metadata"]["name"]:
        out.append("the pods do not run as the ServiceAccount")
    if not re.fullmatch(r"[0-9a-f-]{36}", sa["metadata"].get("annotations", {}).get(WI_CLIENT, "")):
        out.append("the ServiceAccount has no %s annotation" % WI_CLIENT)
    if labels.get(WI_USE) != "true":
        out.append("the pods lack the label %s: \"true\"" % WI_USE)
    if spec.get("automountServiceAccountToken") is not False:
        out.append("the API server token is mounted into the pods")

    # The pod: non-root, RuntimeDefault seccomp.
    psc = spec.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or psc.get("runAsUser", 0) == 0:
        out.append("the pod may run as root")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        out.append("the pod's seccomp profile is not RuntimeDefault")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        out.append("the pod shares a host namespace")
    containers = spec.get("containers", [])
    for c in containers:
        out += container_problems(c, "container %s" % c["name"])
    for c in spec.get("initContainers", []):
        out += container_problems(c, "init container %s" % c["name"])

    # brokerd serves HTTP on the port the probes and the Service use.
    broker = [c for c in containers if http_listen(c)]
    if len(broker) != 1:
        return out + ["no container runs brokerd --http"]
    c = broker[0]
    listen_port = int(http_listen(c).rsplit(":", 1)[1])
    if listen_port not in [p["containerPort"] for p in c.get("ports", [])]:
        out.append("brokerd listens on %d, which is not a containerPort" % listen_port)
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or port_number(c, get.get("port")) != listen_port:
            out.append("the %s does not GET %s on brokerd's port" % (probe, path))
    svc = docs["Service"]["spec"]
    if not labels_match(svc["selector"], labels):
        out.append("the Service does not select the pods")
    if [port_number(c, p["targetPort"]) for p in svc["ports"]] != [listen_port]:
        out.append("the Service does not send to brokerd's port")
    if not labels_match(docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"], labels):
        out.append("the PodDisruptionBudget does not select the pods")

    # Configuration: from the ConfigMap, no secret in it, none in env.
    cm = docs["ConfigMap"]
    refs = [e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e]
    if refs != [cm["metadata"]["name"]]:
        out.append("brokerd does not take its configuration from the ConfigMap")
    for e in c.get("env", []):
        if "value" in e and re.search(r"SECRET|TOKEN|KEY", e["name"]) and "_REF" not in e["name"]:
            out.append("a secret given as a plain env value: %s" % e["name"])
    env = cm["data"]
    known = test_docs.code_variables()
    for name in env:
        if name not in known:
            out.append("the ConfigMap sets %s, which brokerd does not know" % name)
    if env.get("MCP_AUTH_BROKER_GRAPH_CREDENTIAL") != "federated":
        out.append("the credential is not the federated service account token")
    if env.get("MCP_AUTH_BROKER_AUTH_MODE", "none") == "none":
        out.append("callers are not authenticated")
    if terminating_too_soon(spec, env):
        out.append("terminationGracePeriodSeconds does not outlast the shutdown grace")

    # The API key file brokerd reads is the copy the init container makes
    # (0600, brokerd's uid) on a volume mounted read-only into brokerd.
    keys = env.get("MCP_AUTH_BROKER_API_KEYS_FILE", "")
    init = {i["name"]: i for i in spec.get("initContainers", [])}
    cmd = init.get("api-keys", {}).get("command", [])
    if cmd[:3] != ["/usr/bin/install", "-m", "0600"] or cmd[-1:] != [keys]:
        out.append("no init container copies the API keys to %s with mode 0600" % (keys or "?"))
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    if mounts.get(os.path.dirname(keys), {}).get("readOnly") is not True:
        out.append("the API key file's directory is not mounted read-only into brokerd")

    # Egress only to DNS and HTTPS.
    np = docs["NetworkPolicy"]
    if not labels_match(np["spec"]["podSelector"].get("matchLabels", {}), labels) or \
            not np["spec"]["podSelector"].get("matchLabels"):
        out.append("the NetworkPolicy does not select the pods")
    if "Egress" not in np["spec"].get("policyTypes", []):
        out.append("the NetworkPolicy does not restrict egress")
    allowed = {("UDP", 53), ("TCP", 53), ("TCP", 443)}
    for rule in np["spec"].get("egress", []):
        ports = rule.get("ports")
        if not ports:
            out.append("an egress rule allows every port")
            continue
        for p in ports:
            if (p.get("protocol", "TCP"), p.get("port")) not in allowed or "endPort" in p:
                out.append("egress to %s/%s is allowed" % (p.get("protocol", "TCP"), p.get("port")))
    if "Ingress" not in np["spec"].get("policyTypes", []):
        out.append("the NetworkPolicy does not restrict ingress")
    return out


def terminating_too_soon(spec, env):
    grace = int(env.get("MCP_AUTH_BROKER_SHUTDOWN_GRACE_SECONDS", "10"))
    return spec.get("terminationGracePeriodSeconds", 30) <= grace


class ManifestTests(unittest.TestCase):
    def setUp(self):
        self.docs = load()

    def test_kustomization_names_every_manifest(self):
        files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(KDIR, "*.yaml")))
        self.assertEqual(sorted(self.docs["Kustomization"]["resources"] + ["kustomization.yaml"]), files)

    def test_manifests_hold_their_promises(self):
        self.assertEqual(problems(self.docs), [])

    def test_image_is_the_dockerfiles(self):
        """The image is the Dockerfile's (uid 10001, brokerd as entry point)."""
        with open(os.path.join(SRC, "Dockerfile"), encoding="utf-8") as f:
            dockerfile = f.read()
        tag = re.search(r"docker build -t (\S+) \.", dockerfile).group(1)
        uid = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.M)
        spec = self.docs["Deployment"]["spec"]["template"]["spec"]
        for c in spec["containers"] + spec["initContainers"]:
            repo = c["image"].rsplit(":", 1)[0].rsplit("/", 1)[-1]
            self.assertEqual(repo, tag.split(":")[0], c["name"])
        self.assertEqual(spec["securityContext"]["runAsUser"], int(uid.group(1)))
        self.assertEqual(spec["securityContext"]["runAsGroup"], int(uid.group(2)))


class MutationTests(unittest.TestCase):
    """Each mutation breaks one promise; problems() must name it."""

    def mutated(self, change):
        docs = copy.deepcopy(load())
        change(docs)
        return problems(docs)

    def pod(self, docs):
        return docs["Deployment"]["spec"]["template"]["spec"]

    def broker(self, docs):
        return self.pod(docs)["containers"][0]

    def assert_named(self, change, fragment):
        found = self.mutated(change)
        self.assertTrue(any(fragment in p for p in found), "%r not in %r" % (fragment, found))

    def test_each_mutation_is_found(self):
        cases = [
            (lambda d: self.broker(d)["securityContext"].update(readOnlyRootFilesystem=False),
             "root filesystem is not read-only"),
            (lambda d: self.broker(d)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
             "capabilities are not all dropped"),
            (lambda d: self.pod(d)["initContainers"][0]["securityContext"].pop("capabilities"),
             "init container api-keys: capabilities"),
            (lambda d: self.broker(d)["securityContext"].update(allowPrivilegeEscalation=True),
             "allowPrivilegeEscalation"),
            (lambda d: self.pod(d)["securityContext"].update(runAsUser=0), "may run as root"),
            (lambda d: self.pod(d)["securityContext"].pop("seccompProfile"), "RuntimeDefault"),
            (lambda d: self.broker(d)["resources"]["limits"].pop("memory"), "no memory limit"),
            (lambda d: self.broker(d).pop("readinessProbe"), "readinessProbe"),
            (lambda d: self.broker(d)["livenessProbe"]["httpGet"].update(path="/"), "livenessProbe"),
            (lambda d: self.broker(d).update(args=["--http", "0.0.0.0:9000"]), "not a containerPort"),
            (lambda d: d["NetworkPolicy"]["spec"]["egress"].append({"ports": [{"port": 80}]}),
             "egress to TCP/80"),
            (lambda d: d["NetworkPolicy"]["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}),
             "every port"),
            (lambda d: d["NetworkPolicy"]["spec"].update(policyTypes=["Ingress"]), "restrict egress"),
            (lambda d: d["ServiceAccount"]["metadata"].pop("annotations"), WI_CLIENT),
            (lambda d: d["Deployment"]["spec"]["template"]["metadata"]["labels"].pop(WI_USE), WI_USE),
            (lambda d: self.pod(d).update(serviceAccountName="default"), "ServiceAccount"),
            (lambda d: d["ConfigMap"]["data"].update(MCP_AUTH_BROKER_ALLOWED_PATH="/v1.0/*"),
             "MCP_AUTH_BROKER_ALLOWED_PATH,"),
            (lambda d: d["ConfigMap"]["data"].update(MCP_AUTH_BROKER_AUTH_MODE="none"),
             "not authenticated"),
            (lambda d: self.broker(d).setdefault("env", []).append(
                {"name": "MCP_AUTH_BROKER_CLIENT_SECRET", "value": "x"}), "plain env value"),
            (lambda d: self.broker(d)["volumeMounts"][0].update(readOnly=False), "read-only into brokerd"),
            (lambda d: self.pod(d).update(terminationGracePeriodSeconds=5), "shutdown grace"),
            (lambda d: d["Service"]["spec"].update(selector={"app": "other"}), "Service does not select"),
        ]
        for change, fragment in cases:
            with self.subTest(fragment=fragment):
                self.assert_named(change, fragment)


def fake_jwt(payload):
    """A JWT-shaped token (unsigned here: --check reads claims, it signs
    nothing and sends nothing)."""
    import base64

    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return "%s.%s.%s" % (part({"alg": "RS256", "kid": "k8s"}), part(payload), "c2lnbmF0dXJl")


class ConfigurationTests(harness.BrokerTestCase):
    """The ConfigMap is a configuration brokerd accepts, with the variables
    the workload-identity webhook injects (AZURE_CLIENT_ID from the service
    account's annotation, AZURE_TENANT_ID, AZURE_AUTHORITY_HOST and the
    projected token's file)."""

    def test_brokerd_check_accepts_the_configmap(self):
        import time
        docs = load()
        env = dict(docs["ConfigMap"]["data"])
        sa = docs["ServiceAccount"]["metadata"]["annotations"]
        args = self.broker_args(docs)
        with tempfile.TemporaryDirectory(prefix="mab-k8s-") as tmp:
            keys = os.path.join(tmp, "api-keys")
            with open(keys, "w") as f:
                f.write("ci-agent %s\n" % ("ab" * 32))
            os.chmod(keys, 0o600)
            token = os.path.join(tmp, "azure-identity-token")
            with open(token, "w") as f:
                f.write(fake_jwt({"iss": "https://oidc.example.test/", "aud": ["api://AzureADTokenExchange"],
                                  "sub": "system:serviceaccount:mcp-auth-broker:mcp-auth-broker",
                                  "exp": int(time.time()) + 3600}))
            os.chmod(token, 0o644)
            env["MCP_AUTH_BROKER_API_KEYS_FILE"] = keys
            env.update({
                # The annotation's all-zero GUID is a placeholder; --check warns of it.
                "AZURE_CLIENT_ID": sa[WI_CLIENT].replace("0", "3"),
                "AZURE_TENANT_ID": sa["azure.workload.identity/tenant-id"].replace("0", "4"),
                "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com/",
                "AZURE_FEDERATED_TOKEN_FILE": token,
            })
            status, out, err = harness.run_once(self.stage, args + ["--check"], env_overrides=env)
        out += err
        self.assertEqual(status, 0, out)
        self.assertNotRegex(out, r"(?m)^fail")

    def broker_args(self, docs):
        spec = docs["Deployment"]["spec"]["template"]["spec"]
        return list([c for c in spec["containers"] if http_listen(c)][0]["args"])


if __name__ == "__main__":
    harness.main()
