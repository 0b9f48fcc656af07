"""The Python handler against contract/contract.json, the table of what the extension and
the three handlers agree on, which the Rust and Node.js suites read too."""

import json
import os
import pathlib
import signal
import unittest

for _name in [n for n in os.environ if n.startswith("BLACKBOX_")]:
    del os.environ[_name]

import blackbox_proxy as proxy  # noqa: E402

CONTRACT = json.loads((pathlib.Path(__file__).resolve().parents[2] / "contract" / "contract.json").read_text())


def cases(section, key):
    found = section[key]
    assert found, "no %s cases" % key
    return found


class ContractTest(unittest.TestCase):
    def test_the_replacement_channel_is_the_tables(self):
        self.assertEqual(proxy.EXTENSION_COMM, CONTRACT["extension_comm"])
        self.assertEqual(signal.Signals(proxy.REPLACE_SIGNAL).name, CONTRACT["replace_signal"])

    def test_the_scrape_timeout_header_is_the_tables(self):
        self.assertEqual(proxy.SCRAPE_TIMEOUT_HEADER, CONTRACT["scrape_timeout_header"])

    def test_listen_addresses_are_accepted_and_refused_as_the_table_says(self):
        self.assertEqual(proxy.DEFAULT_LISTEN_ADDRESS, CONTRACT["default_listen_address"])
        rules = CONTRACT["listen_address"]
        for case in cases(rules, "accepted"):
            self.assertEqual(proxy.listen_address(case["value"]), case["address"], case["value"])
        for case in cases(rules, "refused"):
            with self.assertRaises(proxy.InvalidSetting, msg=case["value"]) as refused:
                proxy.listen_address(case["value"])
            self.assertEqual(str(refused.exception), case["message"])

    def test_the_variables_are_the_tables(self):
        names = CONTRACT["variables"]
        settings = proxy.Settings({names["listen_address"]: "127.0.0.1:9393", names["allowed_targets"]: "example.com",
                                   names["deny_private"]: "true"})
        self.assertEqual(settings.upstream, "127.0.0.1:9393")
        self.assertEqual(settings.policy, [names["allowed_targets"], names["deny_private"]])
        self.assertIn("set %s=required" % names["connect_guard"], proxy.guard_refusal(settings))

    def test_the_extension_s_files_are_where_the_table_says(self):
        files = CONTRACT["extension_files"]
        for case in cases(files, "cases"):
            self.assertEqual(proxy.extension_pid_file(case["listen_address"]), case["pid"])
            self.assertEqual(proxy.guard_status_file(case["listen_address"]), case["guard"])

    def test_the_guard_is_on_when_the_extension_writes_the_tables_word(self):
        upstream = "127.0.0.1:9392"
        status_file = proxy.guard_status_file(upstream)
        os.makedirs(os.path.dirname(status_file), exist_ok=True)
        self.addCleanup(lambda: os.path.exists(status_file) and os.remove(status_file))
        with open(status_file, "w") as f:
            f.write(CONTRACT["extension_files"]["guard_on"] + "\n")
        settings = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": upstream, "BLACKBOX_DENY_PRIVATE": "true"})
        self.assertIsNone(proxy.guard_refusal(settings))


if __name__ == "__main__":
    unittest.main()
