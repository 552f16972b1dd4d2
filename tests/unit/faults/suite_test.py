#!/usr/bin/env python3
"""Unit tests of the fault suite's arithmetic and verdicts (faults/suite.py), without a lab: a
scenario whose guarantee is broken on purpose (an agent that restarts its tasks, a proxy that
never comes back, requests failing long into a partition) fails with a readable reason."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "faults"))
import suite  # noqa: E402


def rec(t, ok=True, by="db1", ms=2.0):
    return {"t": t, "ok": ok, "ms": ms, "by": by}


class SummarizeTest(unittest.TestCase):
    def test_counts_failures_gaps_and_percentiles_per_client(self):
        records = [("h1", rec(100.0)), ("h1", rec(100.1, ok=False)), ("h1", rec(103.0)),
                   ("h2", rec(100.0, ms=1.0)), ("h2", rec(100.5, ms=9.0)), ("h1", rec(99.0))]
        s = suite.summarize(records, since=100.0)
        self.assertEqual(s["requests"], 5)  # the one before `since` is not counted
        self.assertEqual(s["failed"], 1)
        self.assertEqual(s["max_gap_s"], 3.0)  # h1: no success from 100.0 to 103.0
        self.assertEqual(s["clients"], {"h1": {"requests": 3, "failed": 1}, "h2": {"requests": 2, "failed": 0}})
        self.assertEqual(s["p50_ms"], 2.0)
        self.assertEqual(s["p99_ms"], 9.0)

    def test_a_client_that_never_succeeds_has_a_gap_as_long_as_its_requests(self):
        s = suite.summarize([("h3", rec(10.0, ok=False)), ("h3", rec(14.0, ok=False))], since=10.0)
        self.assertEqual(s["max_gap_s"], 4.0)
        self.assertIsNone(s["p50_ms"])


class VerdictTest(unittest.TestCase):
    def test_agent_kill_fails_when_the_agent_restarts_its_tasks(self):
        r = {"failed": 0, "requests": 300,
             "facts": {"before": ["a", "b"], "after": ["c", "d"], "adopted": 0}}
        self.assertEqual(suite.AgentKill().verdict(r), "h2's tasks changed: ['a', 'b'] -> ['c', 'd']")
        r["facts"] = {"before": ["a", "b"], "after": ["a", "b"], "adopted": 2}
        self.assertIsNone(suite.AgentKill().verdict(r))
        r["failed"] = 3
        self.assertEqual(suite.AgentKill().verdict(r), "3 of 300 requests failed")

    def test_proxy_kill_fails_when_the_task_never_answers_again_or_too_late(self):
        facts = {"victim": "db2", "killed_at": 100.0, "pids": 2}
        never = {"failed": 0, "requests": 100, "facts": facts, "records": [("h1", rec(101.0, by="db1"))]}
        self.assertEqual(suite.ProxyKill().verdict(never), "task db2 never answered again")
        late = dict(never, records=[("h1", rec(108.0, by="db2"))])
        self.assertEqual(suite.ProxyKill().verdict(late), "answered again after 8.0 s")
        soon = dict(never, records=[("h1", rec(101.5, by="db2"))])
        self.assertIsNone(suite.ProxyKill().verdict(soon))
        self.assertEqual(soon["answers_again_s"], 1.5)

    def test_host_partition_fails_when_other_hosts_keep_failing_or_h3_is_not_served(self):
        facts = {"fault_at": 100.0, "heal_at": 160.0}
        good = [("h3", rec(130.0)), ("h1", rec(105.0, ok=False)), ("h1", rec(130.0))]
        self.assertIsNone(suite.HostPartition().verdict({"facts": facts, "records": good}))
        late = good + [("h2", rec(125.0, ok=False))]
        self.assertEqual(suite.HostPartition().verdict({"facts": facts, "records": late}),
                         "1 requests of other hosts failed later than 20 s into the partition")
        unserved = [("h3", rec(130.0, ok=False)), ("h1", rec(130.0))]
        self.assertEqual(suite.HostPartition().verdict({"facts": facts, "records": unserved}),
                         "h3's client got no answer while h3 was cut off")

    def test_quorum_loss_fails_on_a_hang(self):
        r = {"failed": 0, "requests": 10, "facts": {"during": "hang", "answered_s": 45.0, "write_after": "yes"}}
        self.assertEqual(suite.EtcdQuorumLoss().verdict(r), "a write without quorum took 45.0 s (hang)")
        r["facts"] = {"during": "succeeded", "answered_s": 0.3, "write_after": "yes"}
        self.assertEqual(suite.EtcdQuorumLoss().verdict(r), "a write succeeded without an etcd quorum")

    def test_every_scenario_has_a_name_a_line_and_a_bound(self):
        names = [s.name for s in suite.SCENARIOS]
        self.assertEqual(len(names), len(set(names)))
        for s in suite.SCENARIOS:
            self.assertTrue(s.name and s.about and s.bound, s.name)


if __name__ == "__main__":
    unittest.main()
