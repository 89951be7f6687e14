# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Graph answers as an MCP client gets them, through the real brokerd and
tokend against the TLS mock of Graph: bodies that are not JSON, batches,
and pages followed by @odata.nextLink.

Text (text/*, XML, CSV) comes back as text; an image as MCP image content;
other binary content as an embedded resource blob with its MIME type; a
redirect (reports, file downloads) as data with its Location, never
followed with the token.  JSON declared as JSON must still be JSON.
"""

import base64
import os
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import EXECUTE_TOOL  # noqa: E402

mock_entra = harness.import_mock_entra()
USER = "/v1.0/users/adele@contoso.example"


class NonJsonBodies(harness.MockGraphCase):

    def setUp(self):
        super().setUp()
        self.env = self.mock_env()

    def get(self, path, version="2025-06-18"):
        broker = self.started(version=version, env_overrides=self.env)
        resp = broker.call_tool(EXECUTE_TOOL, self.mock_args({"operation.path": path}))
        result = resp["result"]
        self.assertFalse(result["isError"], result)
        return result

    def test_csv_is_text(self):
        result = self.get(USER + "/drive/root:/report.csv:/content")
        ex = result["structuredContent"]["execution"]
        self.assertEqual(ex["body_format"], "text")
        self.assertEqual(ex["body"], mock_entra.REPORT_CSV)
        self.assertTrue(ex["headers"]["content-type"].startswith("text/csv"))
        self.assertEqual(len(result["content"]), 1)

    def test_photo_is_image_content(self):
        result = self.get(USER + "/photo/$value")
        ex = result["structuredContent"]["execution"]
        self.assertEqual((ex["body_format"], ex["body"]), ("image", None))
        self.assertNotIn("body_base64", ex, "the image is sent twice")
        [_, image] = result["content"]
        self.assertEqual((image["type"], image["mimeType"]), ("image", "image/jpeg"))
        self.assertEqual(base64.b64decode(image["data"]), mock_entra.PHOTO_JPEG)

    def test_other_binary_is_an_embedded_blob(self):
        path = USER + "/drive/root:/data.bin:/content"
        result = self.get(path)
        self.assertEqual(result["structuredContent"]["execution"]["body_format"], "binary")
        [_, blob] = result["content"]
        self.assertEqual(blob["type"], "resource")
        self.assertEqual(blob["resource"]["mimeType"], "application/octet-stream")
        self.assertEqual(blob["resource"]["uri"], self.mock.base_url + path)
        self.assertEqual(base64.b64decode(blob["resource"]["blob"]), mock_entra.BLOB_BYTES)

    def test_binary_in_a_text_only_protocol_version(self):
        # 2025-03-26 has no structuredContent: the JSON text and the image.
        result = self.get(USER + "/photo/$value", version="2025-03-26")
        self.assertNotIn("structuredContent", result)
        self.assertEqual([c["type"] for c in result["content"]], ["text", "image"])

    def test_a_redirect_is_data_and_never_followed(self):
        result = self.get("/v1.0/reports/getOffice365ActiveUserCounts(period='D7')")
        ex = result["structuredContent"]["execution"]
        self.assertEqual(ex["http_status"], 302)
        self.assertEqual(ex["headers"]["location"],
                         self.mock.base_url + "/_mock/download/report.csv?sig=mock")
        self.assertEqual(len(self.mock.graph_requests()), 1, "the redirect was followed")
        self.assertEqual(self.mock.other_requests(), [])

    def test_batch_sub_responses_are_entries_with_their_own_bodies(self):
        # No allowlist, mutations off: a batch of GETs is a read.
        broker = self.started(env_overrides=self.env)
        batch = {"requests": [
            {"id": "u", "method": "GET", "url": "/users/AdeleV@contoso.example"},
            {"id": "p", "method": "GET", "url": "/users/adele@contoso.example/photo/$value"},
            {"id": "c", "method": "GET", "url": "/users/adele@contoso.example/drive/root:/report.csv:/content"},
            {"id": "x", "method": "GET", "url": "/users/nobody@contoso.example"}]}
        resp = broker.call_tool(EXECUTE_TOOL, self.mock_args({
            "operation.method": "POST", "operation.path": "/v1.0/$batch",
            "operation.headers": {"content-type": "application/json"}, "operation.body": batch}))
        result = resp["result"]
        self.assertFalse(result["isError"], result)
        ex = result["structuredContent"]["execution"]
        self.assertEqual((ex["body_format"], ex["body"]), ("batch", None))
        entries = {e["id"]: e for e in ex["responses"]}
        self.assertEqual(sorted(entries), ["c", "p", "u", "x"])
        self.assertEqual((entries["u"]["status"], entries["u"]["body_format"]), (200, "json"))
        self.assertEqual(entries["u"]["body"]["userPrincipalName"], "AdeleV@contoso.example")
        self.assertEqual((entries["p"]["body_format"], entries["p"]["headers"]["content-type"]),
                         ("image", "image/jpeg"))
        self.assertEqual(base64.b64decode(entries["p"]["body_base64"]), mock_entra.PHOTO_JPEG)
        self.assertEqual((entries["c"]["body_format"], entries["c"]["body"]), ("text", mock_entra.REPORT_CSV))
        self.assertEqual(entries["x"]["status"], 404)

    def paged(self, query, max_pages, extra=None):
        env = dict(self.env, **(extra or {}))
        broker = self.started(env_overrides=env)
        args = self.mock_args({"operation.path": "/v1.0/users?" + query})
        args["max_pages"] = max_pages
        resp = broker.call_tool(EXECUTE_TOOL, args)
        return resp["result"]

    def test_pages_are_followed_and_merged(self):
        result = self.paged("$top=1", 10)
        self.assertFalse(result["isError"], result)
        ex = result["structuredContent"]["execution"]
        ids = [u["id"] for u in ex["body"]["value"]]
        self.assertEqual(ids, [u["id"] for u in mock_entra.MOCK_USERS])
        self.assertNotIn("@odata.nextLink", ex["body"])
        self.assertEqual(ex["paging"], {"pages": len(ids), "items": len(ids), "truncated": False,
                                        "next_link": None})
        self.assertEqual(len(self.mock.graph_requests()), len(ids))

    def test_paging_stops_at_max_pages_with_a_link_to_continue(self):
        result = self.paged("$top=1", 2)
        paging = result["structuredContent"]["execution"]["paging"]
        self.assertEqual((paging["pages"], paging["items"], paging["truncated"]), (2, 2, True))
        self.assertEqual(paging["next_link"], self.mock.base_url + "/v1.0/users?$top=1&$skiptoken=2")
        self.assertEqual(paging["stopped"], "max_pages reached")
        self.assertEqual(len(self.mock.graph_requests()), 2)

    def test_paging_caps_from_configuration(self):
        result = self.paged("$top=1", 50, {"MCP_AUTH_BROKER_PAGING_MAX_PAGES": "2"})
        paging = result["structuredContent"]["execution"]["paging"]
        self.assertEqual((paging["pages"], paging["stopped"]), (2, "MCP_AUTH_BROKER_PAGING_MAX_PAGES reached"))
        result = self.paged("$top=1", 50, {"MCP_AUTH_BROKER_PAGING_MAX_ITEMS": "2"})
        paging = result["structuredContent"]["execution"]["paging"]
        self.assertEqual((paging["items"], paging["stopped"]), (2, "MCP_AUTH_BROKER_PAGING_MAX_ITEMS reached"))

    def test_a_next_link_to_another_host_is_not_followed(self):
        result = self.paged("$top=1&$skiptoken=elsewhere", 5)
        paging = result["structuredContent"]["execution"]["paging"]
        self.assertTrue(paging["truncated"])
        self.assertEqual(paging["stopped"], "the next link is not on the configured resource")
        self.assertEqual(len(self.mock.graph_requests()), 1)

    def test_a_next_link_policy_refuses_is_not_followed(self):
        # Same host, but a collection the allowlist does not admit.
        result = self.paged("$top=1&$skiptoken=otherpath", 5,
                            {"MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users"})
        self.assertFalse(result["isError"], result)
        paging = result["structuredContent"]["execution"]["paging"]
        self.assertEqual((paging["pages"], paging["stopped"]), (1, "the next link is refused by policy"))
        self.assertEqual(len(self.mock.graph_requests()), 1)

    def test_max_pages_is_for_get_only(self):
        broker = self.started(env_overrides=self.env)
        args = self.mock_args({"operation.method": "POST", "operation.path": "/v1.0/users"})
        args["max_pages"] = 2
        sc = broker.call_tool(EXECUTE_TOOL, args)["result"]["structuredContent"]
        self.assertEqual(sc["error"]["code"], "bad_request.invalid_field")

    def test_json_declared_but_not_json_is_still_refused(self):
        self.mock.set_fault("graph", "garbage")
        broker = self.started(env_overrides=self.env)
        resp = broker.call_tool(EXECUTE_TOOL, self.mock_args())
        sc = resp["result"]["structuredContent"]
        self.assertEqual(sc["error"]["code"], "provider.bad_response")


if __name__ == "__main__":
    harness.main()
