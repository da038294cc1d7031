"""Billing data the world derives: invoice dates, seeded invoice lines, uploaded files."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from .._formats import UTC, fmt_ms, fmt_s, seeded_random
from ._catalog import CATALOG_DATE, PRODUCTS
from ._entities import BusinessUnit, InvoiceFile
from ._state import WorldState

__all__ = ["WorldBilling"]

JSON = dict[str, Any]


class WorldBilling(WorldState):
    """Invoices and billing data (each also a method of :class:`World`)."""

    def _invoice_months(self) -> list[date]:
        """Invoice dates: the first of each of the last six months, newest first."""
        first = self.now.date().replace(day=1)
        out = []
        for _ in range(6):
            first = (first - timedelta(days=1)).replace(day=1)
            out.append(first)
        return out

    def future_months(self, count: int) -> list[date]:
        """The next ``count`` invoice dates, starting with the current month."""
        current = self.now.date().replace(day=1)
        out = []
        for _ in range(count):
            out.append(current)
            current = (current + timedelta(days=32)).replace(day=1)
        return out

    def invoice_dates(self) -> list[date]:
        """Past invoice dates, newest first."""
        return self._invoice_months()

    def invoice_lines(self, bu_id: int, month: date, *, forecast: bool = False) -> list[JSON]:
        """Invoice lines for one business unit and month (subtree consumption)."""
        rng = seeded_random(self.seed * 7919 + bu_id * 131 + month.toordinal())
        nodes = sum(len(self.bunits[b].consumer_ids) for b in self.descendants(bu_id))
        if not nodes:
            return []
        end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        lines = []
        for k, (pid, pname, price) in enumerate(PRODUCTS):
            quantity = float(nodes) if pid == 12 else round(nodes * rng.uniform(40, 400), 1)
            if forecast:
                quantity = round(quantity * 1.02, 1)
            if pid == 13 and rng.random() < 0.5:
                continue
            lines.append(
                {
                    "subscription": {"id": 300 + bu_id % 50, "name": "Backup as a Service"},
                    "product": {
                        "name": pname,
                        "inherited": False,
                        "inheritable": True,
                        "replicationType": 0,
                        "id": pid,
                        "createdDate": CATALOG_DATE,
                    },
                    "startDate": fmt_s(datetime.combine(month, datetime.min.time(), UTC)),
                    "endDate": fmt_s(datetime.combine(end, datetime.min.time(), UTC)),
                    "unitPrice": price,
                    "quantity": quantity,
                    "note": "",
                    "id": bu_id * 10_000 + month.year % 100 * 100 + month.month * 3 + k,
                    "createdDate": fmt_ms(
                        datetime.combine(end, datetime.min.time(), UTC) + timedelta(days=1, hours=2)
                    ),
                }
            )
        return lines

    def add_invoice_file(
        self,
        bu: BusinessUnit,
        file_name: str,
        content_type: str,
        data: bytes,
        erp_reference: str | None,
        send_to_billing_address: bool,
    ) -> InvoiceFile:
        """POST bunits/{id}/invoicefiles."""
        fid = self._next_file_id
        self._next_file_id += 1
        record = InvoiceFile(
            fid,
            bu.id,
            self.current_time(),
            file_name,
            content_type,
            data,
            erp_reference,
            send_to_billing_address,
        )
        self.invoice_files.setdefault(bu.id, []).append(record)
        return record
