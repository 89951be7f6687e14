# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The container image as far as it can be checked without Docker (CI has no
daemon and may download nothing but Debian packages): the Dockerfile's
HEALTHCHECK runs brokerd --health, and it passes or fails as it should;
contrib/mcp-clients/docker.json launches that image as a stdio MCP server
with the flags the Dockerfile and the README ask for."""

import json
import os
import re
import shlex
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

SRC = os.environ.get("MAB_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def read(path):
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        return f.read()


def dockerfile_runtime():
    return read("Dockerfile").partition("\nFROM debian:bookworm-slim")[2]


def image_tag():
    """The tag the Dockerfile's own build instructions give the image."""
    m = re.search(r"docker build -t (\S+) \.", read("Dockerfile"))
    assert m, "the Dockerfile names no `docker build -t TAG .`"
    return m.group(1)


def healthcheck_command():
    """The exec-form CMD of the HEALTHCHECK (continuation lines joined)."""
    text = dockerfile_runtime().replace("\\\n", " ")
    m = re.search(r"^HEALTHCHECK\s+(.*?)\bCMD\s+(\[.*\])\s*$", text, re.M)
    assert m, "no exec-form HEALTHCHECK in the runtime stage"
    return shlex.split(m.group(1)), json.loads(m.group(2))


class HealthcheckTests(harness.BrokerTestCase):
    def test_healthcheck_runs_brokerd_health(self):
        options, cmd = healthcheck_command()
        self.assertIn('ENTRYPOINT ["%s"]' % cmd[0], dockerfile_runtime())
        self.assertEqual(cmd[1:], ["--health"])
        self.assertTrue(any(o.startswith("--timeout=") for o in options), options)

    def test_healthcheck_passes_on_a_working_configuration(self):
        _, cmd = healthcheck_command()
        status, out, err = harness.run_once(self.stage, cmd[1:])  # paths aside: the staged brokerd
        self.assertEqual(status, 0, out + err)

    def test_healthcheck_fails_on_the_image_default_without_configuration(self):
        # The image sets MCP_AUTH_BROKER_ENV=prod: unconfigured, unhealthy.
        env = re.search(r"^ENV MCP_AUTH_BROKER_ENV=(\S+)$", dockerfile_runtime(), re.M).group(1)
        _, cmd = healthcheck_command()
        status, out, err = harness.run_once(self.stage, cmd[1:], {"MCP_AUTH_BROKER_ENV": env})
        self.assertNotEqual(status, 0, out + err)


class DockerClientExampleTests(harness.unittest.TestCase):
    def server(self):
        doc = json.loads(read("contrib/mcp-clients/docker.json"))
        (server,) = doc["mcpServers"].values()
        return server

    def test_launches_the_image_as_a_stdio_server(self):
        server = self.server()
        self.assertEqual(server["command"], "docker")
        args = server["args"]
        self.assertEqual(args[0], "run")
        # The image is last: its entry point is brokerd, which serves MCP on
        # stdio with no argument.
        self.assertEqual(args[-1], image_tag())
        flags = args[1:-1]
        self.assertIn("-i", flags, "MCP travels on stdin: docker run needs -i")
        for tty in ("-t", "--tty", "-it", "-ti"):
            self.assertNotIn(tty, flags, "a tty would mangle the JSON-RPC lines")
        self.assertIn("--rm", flags)
        self.assertIn("--init", flags, "the Dockerfile asks for --init (orphans of a helper)")
        for bad in ("--privileged", "--user", "-u", "--cap-add", "--network=host"):
            self.assertNotIn(bad, flags)
        self.assertFalse([f for f in flags if "unconfined" in f], flags)
        self.assertNotIn("env", server, "configuration goes in the --env-file, not the client")

    def test_credentials_are_mounted_read_only_not_passed(self):
        flags = self.server()["args"][1:-1]
        envs = [flags[i + 1] for i, f in enumerate(flags) if f in ("-e", "--env")]
        for e in envs:
            self.assertNotRegex(e, r"OP_SERVICE_ACCOUNT_TOKEN|SECRET", "a credential on the command line")
        mounts = [flags[i + 1] for i, f in enumerate(flags) if f in ("-v", "--volume")]
        self.assertTrue(mounts)
        for m in mounts:
            self.assertTrue(m.endswith(":ro"), m)
        credir = [e.split("=", 1)[1] for e in envs if e.startswith("CREDENTIALS_DIRECTORY=")]
        self.assertEqual(len(credir), 1, envs)
        self.assertIn(credir[0], [m.split(":")[1] for m in mounts])
        self.assertIn("--env-file", flags)

    def test_readme_shows_the_example_and_the_platforms(self):
        readme = read("README.md")
        self.assertIn("contrib/mcp-clients/docker.json", readme)
        self.assertIn("HEALTHCHECK", readme)
        self.assertRegex(readme, r"Linux only")
        self.assertIn("5.13", readme)


if __name__ == "__main__":
    harness.main()
