"""The audit log's bound: the newest ``limit`` records stay, and neither the log nor the not-yet-written list
grows without end when no durable store drains it."""

from hybridsoa.mock.domain.audit import AuditLog, AuditRecord


def _record(n: int) -> AuditRecord:
    return AuditRecord(id=str(n), time=float(n), api="exchange", operation="Set-Mailbox", caller={})


def test_log_keeps_the_newest_records_within_its_bound():
    log = AuditLog(limit=640)
    for n in range(5000):
        log.append(_record(n))
    assert 640 <= len(log.records) <= 650  # trimmed in chunks of limit // 64
    assert log.records[-1].id == "4999"
    assert [int(r.id) for r in log.records] == list(range(5000 - len(log.records), 5000))
    assert log.query(limit=3)[-1].id == "4999"


def test_unwritten_records_are_bounded_without_a_store():
    log = AuditLog(limit=100)
    for n in range(1000):
        log.append(_record(n))
    assert len(log.dirty) <= 101
    assert log.dirty[-1].id == "999"


def test_a_store_draining_after_each_write_sees_every_record():
    log = AuditLog(limit=10)
    written = []
    for n in range(50):
        log.append(_record(n))
        written += log.dirty
        log.dirty = []
    assert [r.id for r in written] == [str(n) for n in range(50)]
