"""The schema and its migrations, written once for both SQLite and PostgreSQL.

`{pk}` becomes an auto-increment integer key in each dialect. Timestamps are ISO-8601
UTC text; JSON documents are text. Each migration is a list of statements; the
schema version is the number of migrations applied.
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE sites (id TEXT PRIMARY KEY, name TEXT NOT NULL, country TEXT NOT NULL,
            manufacturer TEXT, address TEXT, created_at TEXT NOT NULL)""",
        # Every scannable identifier, so lots, units, material lots never collide.
        "CREATE TABLE items (id TEXT PRIMARY KEY, kind TEXT NOT NULL, created_at TEXT NOT NULL)",
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        """CREATE TABLE users (username TEXT PRIMARY KEY, full_name TEXT NOT NULL,
            role TEXT NOT NULL, pw_salt TEXT NOT NULL, pw_hash TEXT NOT NULL,
            failed_logins INTEGER NOT NULL DEFAULT 0, locked INTEGER NOT NULL DEFAULT 0,
            active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, created_by TEXT)""",
        """CREATE TABLE qualifications (id {pk}, username TEXT NOT NULL REFERENCES users(username),
            station_type TEXT NOT NULL, valid_until TEXT NOT NULL, granted_by TEXT NOT NULL,
            granted_at TEXT NOT NULL)""",
        "CREATE INDEX qualifications_user ON qualifications(username, station_type)",
        """CREATE TABLE sessions (token TEXT PRIMARY KEY, username TEXT NOT NULL
            REFERENCES users(username), station TEXT, created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL, ended_at TEXT)""",
        """CREATE TABLE stations (id TEXT PRIMARY KEY, type TEXT NOT NULL, site_id TEXT NOT NULL
            REFERENCES sites(id), calibration_due TEXT, active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL)""",
        """CREATE TABLE parts (number TEXT PRIMARY KEY, kind TEXT NOT NULL, doc TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE routings (part TEXT NOT NULL, version INTEGER NOT NULL,
            status TEXT NOT NULL, doc TEXT NOT NULL, source_text TEXT NOT NULL,
            source_file TEXT NOT NULL, sha256 TEXT NOT NULL, loaded_by TEXT NOT NULL,
            loaded_at TEXT NOT NULL, approved_at TEXT, PRIMARY KEY (part, version))""",
        """CREATE TABLE lots (id TEXT PRIMARY KEY REFERENCES items(id), part TEXT NOT NULL,
            routing_version INTEGER NOT NULL, site_id TEXT NOT NULL, qty INTEGER NOT NULL,
            serialized INTEGER NOT NULL, status TEXT NOT NULL, on_hold INTEGER NOT NULL DEFAULT 0,
            hold_reason TEXT, qty_scrapped INTEGER NOT NULL DEFAULT 0,
            qty_released INTEGER NOT NULL DEFAULT 0, qty_shipped INTEGER NOT NULL DEFAULT 0,
            remaining REAL NOT NULL DEFAULT 0, rework_op INTEGER, rework_at TEXT,
            created_at TEXT NOT NULL, created_by TEXT NOT NULL, completed_at TEXT,
            released_at TEXT)""",
        "CREATE INDEX lots_status ON lots(status)",
        """CREATE TABLE units (serial TEXT PRIMARY KEY REFERENCES items(id), lot_id TEXT NOT NULL
            REFERENCES lots(id), status TEXT NOT NULL, on_hold INTEGER NOT NULL DEFAULT 0,
            hold_reason TEXT, rework_op INTEGER, rework_at TEXT, mcu_uid TEXT,
            consumed_into TEXT)""",
        "CREATE INDEX units_lot ON units(lot_id)",
        """CREATE TABLE steps (id {pk}, lot_id TEXT NOT NULL REFERENCES lots(id), serial TEXT,
            op INTEGER NOT NULL, station_id TEXT NOT NULL, username TEXT NOT NULL,
            started_at TEXT NOT NULL, completed_at TEXT, status TEXT NOT NULL, result TEXT,
            data TEXT, attempt INTEGER NOT NULL, source TEXT)""",
        "CREATE INDEX steps_lot ON steps(lot_id, op)",
        "CREATE INDEX steps_serial ON steps(serial, op)",
        # What is loaded on a station (feeder/slot), consumed by each step done there.
        """CREATE TABLE station_loads (id {pk}, station_id TEXT NOT NULL REFERENCES stations(id),
            slot TEXT NOT NULL, material_id TEXT NOT NULL, loaded_at TEXT NOT NULL,
            loaded_by TEXT NOT NULL, unloaded_at TEXT)""",
        "CREATE INDEX station_loads_station ON station_loads(station_id, unloaded_at)",
        """CREATE TABLE material_lots (id TEXT PRIMARY KEY REFERENCES items(id), part TEXT NOT NULL,
            supplier TEXT, supplier_lot TEXT, mpn TEXT, date_code TEXT, expiry TEXT, origin TEXT,
            unit_cost REAL, cert TEXT, gtin TEXT, qty_received REAL NOT NULL,
            remaining REAL NOT NULL CHECK (remaining >= 0), status TEXT NOT NULL,
            on_hold INTEGER NOT NULL DEFAULT 0, received_at TEXT NOT NULL,
            received_by TEXT NOT NULL)""",
        "CREATE INDEX material_part ON material_lots(part, status)",
        # Genealogy: parent was made from child. Indexed both ways (DESIGN §4).
        """CREATE TABLE edges (id {pk}, parent TEXT NOT NULL, child TEXT NOT NULL,
            qty REAL NOT NULL, op INTEGER, step_id INTEGER, station_id TEXT, refdes TEXT,
            feeder TEXT, at TEXT NOT NULL)""",
        "CREATE INDEX edges_parent ON edges(parent, child)",
        "CREATE INDEX edges_child ON edges(child, parent)",
        """CREATE TABLE firmware (id TEXT PRIMARY KEY REFERENCES items(id), part TEXT NOT NULL,
            version TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
            stored_path TEXT NOT NULL, source_name TEXT NOT NULL, status TEXT NOT NULL,
            registered_by TEXT NOT NULL, registered_at TEXT NOT NULL, approved_at TEXT)""",
        """CREATE TABLE flashes (id {pk}, serial TEXT NOT NULL, image_id TEXT NOT NULL,
            image_sha256 TEXT NOT NULL, mcu_uid TEXT, station_id TEXT NOT NULL,
            attempt INTEGER NOT NULL, verify TEXT NOT NULL, exit_status INTEGER,
            duration_ms INTEGER, output_sha256 TEXT, step_id INTEGER, at TEXT NOT NULL)""",
        "CREATE INDEX flashes_serial ON flashes(serial)",
        """CREATE TABLE shots (id {pk}, lot_id TEXT NOT NULL, step_id INTEGER NOT NULL,
            shot_no INTEGER NOT NULL, ok INTEGER NOT NULL, cavities INTEGER NOT NULL,
            shot_values TEXT NOT NULL, problems TEXT)""",
        "CREATE INDEX shots_lot ON shots(lot_id)",
        """CREATE TABLE machine_messages (unique_id TEXT PRIMARY KEY, kind TEXT NOT NULL,
            name TEXT NOT NULL, sent_at TEXT, raw TEXT NOT NULL, sha256 TEXT NOT NULL,
            imported_at TEXT NOT NULL, imported_by TEXT NOT NULL, outcome TEXT)""",
        """CREATE TABLE ncrs (id TEXT PRIMARY KEY, lot_id TEXT NOT NULL, units TEXT NOT NULL,
            description TEXT NOT NULL, status TEXT NOT NULL, action TEXT, justification TEXT,
            rework_op INTEGER, opened_by TEXT NOT NULL, opened_at TEXT NOT NULL,
            dispositioned_at TEXT, closed_at TEXT)""",
        "CREATE INDEX ncrs_lot ON ncrs(lot_id, status)",
        """CREATE TABLE signatures (id {pk}, username TEXT NOT NULL, full_name TEXT NOT NULL,
            meaning TEXT NOT NULL, signed_at TEXT NOT NULL, utc_offset TEXT NOT NULL,
            record_type TEXT NOT NULL, record_id TEXT NOT NULL, record_sha256 TEXT NOT NULL)""",
        "CREATE INDEX signatures_record ON signatures(record_type, record_id)",
        """CREATE TABLE labels (id {pk}, item_id TEXT NOT NULL, lot_id TEXT NOT NULL,
            template TEXT NOT NULL, template_version INTEGER NOT NULL, format TEXT NOT NULL,
            element_string TEXT NOT NULL, content_sha256 TEXT NOT NULL, file TEXT NOT NULL,
            username TEXT NOT NULL, printed_at TEXT NOT NULL, reprint INTEGER NOT NULL,
            reason TEXT)""",
        "CREATE INDEX labels_item ON labels(item_id)",
        "CREATE INDEX labels_lot ON labels(lot_id)",
        """CREATE TABLE origin_decisions (id {pk}, lot_id TEXT NOT NULL, decided_at TEXT NOT NULL,
            positive INTEGER NOT NULL, rule_name TEXT NOT NULL, rule_version TEXT NOT NULL,
            threshold_pct REAL NOT NULL, local_pct REAL NOT NULL, worksheet TEXT NOT NULL)""",
        "CREATE INDEX origin_lot ON origin_decisions(lot_id)",
        """CREATE TABLE shipments (id {pk}, lot_id TEXT NOT NULL, consignee TEXT NOT NULL,
            ref TEXT NOT NULL, qty INTEGER NOT NULL, serials TEXT NOT NULL,
            shipped_at TEXT NOT NULL, username TEXT NOT NULL)""",
        "CREATE INDEX shipments_lot ON shipments(lot_id)",
        """CREATE TABLE audit (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, username TEXT,
            station TEXT, action TEXT NOT NULL, entity_type TEXT NOT NULL, entity_id TEXT NOT NULL,
            old TEXT, new TEXT, reason TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
        "CREATE INDEX audit_entity ON audit(entity_id, seq)",
    ],
    # Issue 14: the register of frozen DHR versions (a released DHR is never rewritten:
    # a later generation that differs becomes version n+1, with what changed and why).
    [
        """CREATE TABLE dhr_versions (id {pk}, lot_id TEXT NOT NULL, version INTEGER NOT NULL,
            record_sha256 TEXT NOT NULL, content_sha256 TEXT NOT NULL, sections TEXT NOT NULL,
            pdf_file TEXT NOT NULL, pdf_sha256 TEXT NOT NULL, json_file TEXT NOT NULL,
            json_sha256 TEXT NOT NULL, csv_file TEXT NOT NULL, csv_sha256 TEXT NOT NULL,
            written_at TEXT NOT NULL, username TEXT, audit_seq INTEGER NOT NULL,
            changes TEXT, UNIQUE (lot_id, version))""",
    ],
    # Issue 13 (items 5, 6, 9): sessions bound to a host with an idle clock (tokens are
    # stored as sha256 from now on, so the clear-text tokens of older sessions no longer
    # open anything); password ageing, forced change and history; the origin decision each
    # label print relied on.
    [
        "ALTER TABLE sessions ADD COLUMN host TEXT",
        "ALTER TABLE sessions ADD COLUMN last_seen TEXT",
        "ALTER TABLE users ADD COLUMN pw_changed_at TEXT",
        "ALTER TABLE users ADD COLUMN must_change INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE users ADD COLUMN pw_history TEXT",
        "ALTER TABLE labels ADD COLUMN origin_decision INTEGER",
    ],
    # Issue 16: statistical process control. Observations of declared characteristics
    # (a copy of step data, written in the same transaction; machine shots as one row per
    # subgroup: mean, range, sd, min, max — the shots themselves stay in `shots`), the
    # signed phase-I limits (versioned), and the signals the run rules found.
    [
        """CREATE TABLE spc_points (id {pk}, characteristic TEXT NOT NULL, seq INTEGER NOT NULL,
            subgroup INTEGER NOT NULL, value REAL NOT NULL, n REAL NOT NULL DEFAULT 1,
            lot_id TEXT NOT NULL, serial TEXT, station_id TEXT, step_id INTEGER,
            shot_no INTEGER, at TEXT NOT NULL, spread REAL, sd REAL, lo REAL, hi REAL)""",
        "CREATE UNIQUE INDEX spc_points_seq ON spc_points(characteristic, seq)",
        "CREATE INDEX spc_points_lot ON spc_points(lot_id, characteristic)",
        """CREATE TABLE spc_limits (id {pk}, characteristic TEXT NOT NULL, version INTEGER NOT NULL,
            status TEXT NOT NULL, chart TEXT NOT NULL, subgroup_n INTEGER NOT NULL,
            center REAL NOT NULL, sigma REAL NOT NULL, spread_center REAL, spread_lcl REAL,
            spread_ucl REAL, study TEXT NOT NULL, reason TEXT NOT NULL, set_by TEXT NOT NULL,
            set_at TEXT NOT NULL, approved_by TEXT, approved_at TEXT)""",
        "CREATE UNIQUE INDEX spc_limits_version ON spc_limits(characteristic, version)",
        """CREATE TABLE spc_signals (id {pk}, characteristic TEXT NOT NULL, limits_version INTEGER
            NOT NULL, subgroup INTEGER NOT NULL, chart TEXT NOT NULL, rule_set TEXT NOT NULL,
            rule INTEGER NOT NULL, stat REAL NOT NULL, action TEXT NOT NULL, lot_id TEXT NOT NULL,
            units TEXT NOT NULL, station_id TEXT, step_id INTEGER, ncr_id TEXT,
            at TEXT NOT NULL)""",
        "CREATE INDEX spc_signals_char ON spc_signals(characteristic, subgroup)",
        "CREATE INDEX spc_signals_lot ON spc_signals(lot_id)",
    ],
    # issue 19: packing by container (SSCC), shipped containers, voided labels, EPCIS.
    [
        """CREATE TABLE containers (sscc TEXT PRIMARY KEY REFERENCES items(id),
            level TEXT NOT NULL, part TEXT NOT NULL, capacity INTEGER NOT NULL,
            status TEXT NOT NULL, site_id TEXT NOT NULL, created_at TEXT NOT NULL,
            created_by TEXT NOT NULL, closed_at TEXT, shipped_at TEXT)""",
        "CREATE INDEX containers_status ON containers(status)",
        # What is (and was) in a container; a removal is recorded, never deleted.
        """CREATE TABLE container_contents (id {pk}, sscc TEXT NOT NULL
            REFERENCES containers(sscc), item_id TEXT NOT NULL, item_kind TEXT NOT NULL,
            lot_id TEXT, packed_at TEXT NOT NULL, packed_by TEXT NOT NULL, removed_at TEXT,
            removed_by TEXT, removal_reason TEXT)""",
        # An item is in at most one container at a time.
        """CREATE UNIQUE INDEX container_contents_current ON container_contents(item_id)
            WHERE removed_at IS NULL""",
        "CREATE INDEX container_contents_sscc ON container_contents(sscc)",
        """CREATE TABLE shipment_containers (shipment_id INTEGER NOT NULL, sscc TEXT NOT NULL,
            PRIMARY KEY (shipment_id, sscc))""",
        "CREATE INDEX shipment_containers_sscc ON shipment_containers(sscc)",
        "ALTER TABLE shipments ADD COLUMN destination_gln TEXT",
        "ALTER TABLE labels ADD COLUMN voided_at TEXT",
        "ALTER TABLE labels ADD COLUMN void_reason TEXT",
        # A label file sent to a printer: the job and its final state (completed or not).
        """CREATE TABLE print_jobs (id {pk}, file TEXT NOT NULL, printer TEXT NOT NULL,
            job_id TEXT, state TEXT NOT NULL, reasons TEXT, labels INTEGER NOT NULL,
            sent_at TEXT NOT NULL, finished_at TEXT, username TEXT NOT NULL)""",
        "CREATE INDEX print_jobs_file ON print_jobs(file)",
    ],
    # Issue 11: a shot keeps both its row in the machine's report and the machine's own
    # cycle counter (ActCntCyc; NULL when the report has none), so it can be found either way.
    [
        "ALTER TABLE shots ADD COLUMN report_row INTEGER",
        "ALTER TABLE shots ADD COLUMN cycle INTEGER",
    ],
    # Issue 11 (records that are right): a qualification row with `revoked_reason` is a
    # revocation (`mes user unqualify`, valid_until = the day it ended); the latest row of
    # a user and station type is the one in force. A receipt keeps the raw scan it was
    # received from.
    [
        "ALTER TABLE qualifications ADD COLUMN revoked_reason TEXT",
        "ALTER TABLE material_lots ADD COLUMN raw_scan TEXT",
    ],
    # Issue 12: a recall is a record: what it held, who opened and closed it (signed).
    [
        """CREATE TABLE recalls (id TEXT PRIMARY KEY, start_item TEXT NOT NULL,
            reason TEXT NOT NULL, status TEXT NOT NULL, held TEXT NOT NULL, scope TEXT NOT NULL,
            opened_by TEXT NOT NULL, opened_at TEXT NOT NULL, closed_by TEXT, closed_at TEXT,
            close_reason TEXT)""",
    ],
    # Issue 13 (tamper-evident): an event carries the images of the record rows its
    # transaction wrote (hashed with it; NULL in events written before).
    ["ALTER TABLE audit ADD COLUMN row_images TEXT"],
    # Issue 18: plant resources under control. Calibration as a signed record (a failed
    # one blocks the station and scopes what it produced); tools (molds, stencils) with
    # their use counted per step and their maintenance; moisture events of MSL reels.
    [
        """CREATE TABLE calibrations (id {pk}, station_id TEXT NOT NULL REFERENCES stations(id),
            certificate TEXT NOT NULL, result TEXT NOT NULL, due TEXT, performed_at TEXT NOT NULL,
            performed_by TEXT NOT NULL, signature_id INTEGER)""",
        "CREATE INDEX calibrations_station ON calibrations(station_id, id)",
        """CREATE TABLE tools (id TEXT PRIMARY KEY, kind TEXT NOT NULL, cavities INTEGER,
            life_limit INTEGER NOT NULL, maintenance_interval INTEGER,
            uses INTEGER NOT NULL DEFAULT 0, uses_at_maintenance INTEGER NOT NULL DEFAULT 0,
            active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL,
            created_by TEXT NOT NULL)""",
        """CREATE TABLE tool_uses (id {pk}, tool_id TEXT NOT NULL REFERENCES tools(id),
            lot_id TEXT NOT NULL, step_id INTEGER, op INTEGER, station_id TEXT,
            count INTEGER NOT NULL, uses_after INTEGER NOT NULL, source TEXT, at TEXT NOT NULL)""",
        "CREATE INDEX tool_uses_tool ON tool_uses(tool_id, id)",
        "CREATE INDEX tool_uses_lot ON tool_uses(lot_id)",
        """CREATE TABLE tool_maintenance (id {pk}, tool_id TEXT NOT NULL REFERENCES tools(id),
            uses_at INTEGER NOT NULL, note TEXT NOT NULL, performed_at TEXT NOT NULL,
            performed_by TEXT NOT NULL, signature_id INTEGER)""",
        # Moisture-sensitive reels: dry pack opened, resealed, in dry storage, baked.
        """CREATE TABLE material_moisture (id {pk}, material_id TEXT NOT NULL
            REFERENCES material_lots(id), event TEXT NOT NULL, at TEXT NOT NULL,
            username TEXT NOT NULL, source TEXT)""",
        "CREATE INDEX material_moisture_material ON material_moisture(material_id, at)",
    ],
    # Issue 20 (sites in one database): a site's GS1 GLN and time zone; the site where
    # each step, signature and label happened (NULL in rows written before: the step's
    # station's site, else the home site); the sites a user may act for (NULL = all).
    [
        "ALTER TABLE sites ADD COLUMN gln TEXT",
        "ALTER TABLE sites ADD COLUMN timezone TEXT",
        "ALTER TABLE steps ADD COLUMN site_id TEXT",
        "ALTER TABLE signatures ADD COLUMN site_id TEXT",
        "ALTER TABLE labels ADD COLUMN site_id TEXT",
        "ALTER TABLE users ADD COLUMN sites TEXT",
        "CREATE INDEX steps_site ON steps(site_id)",
    ],
    # Issue 12: catalog entries are versioned. A change to a field that reaches labels,
    # the origin decision or quality's release is a draft until quality signs it; `parts`
    # keeps the values in force (what labels, origin and receiving read).
    [
        """CREATE TABLE part_versions (number TEXT NOT NULL, version INTEGER NOT NULL,
            status TEXT NOT NULL, kind TEXT NOT NULL, doc TEXT NOT NULL, changed TEXT NOT NULL,
            basis TEXT NOT NULL, source_file TEXT NOT NULL, loaded_by TEXT NOT NULL,
            loaded_at TEXT NOT NULL, approved_by TEXT, approved_at TEXT,
            PRIMARY KEY (number, version))""",
        "CREATE INDEX part_versions_status ON part_versions(status, number)",
    ],
    # Issue 17: label templates as controlled documents (loaded as drafts, approved by a
    # signature over their sha256); every label records the template's hash; a print job
    # can stop after its first label for a person to approve the rendered preview.
    [
        """CREATE TABLE label_templates (name TEXT NOT NULL, version INTEGER NOT NULL,
            kind TEXT NOT NULL, status TEXT NOT NULL, source_text TEXT NOT NULL,
            source_file TEXT NOT NULL, sha256 TEXT NOT NULL, loaded_by TEXT NOT NULL,
            loaded_at TEXT NOT NULL, approved_by TEXT, approved_at TEXT,
            PRIMARY KEY (name, version))""",
        "ALTER TABLE labels ADD COLUMN template_sha256 TEXT",
        """CREATE TABLE label_jobs (id {pk}, lot_id TEXT NOT NULL, template TEXT NOT NULL,
            template_version INTEGER NOT NULL, template_sha256 TEXT NOT NULL,
            items TEXT NOT NULL, request TEXT NOT NULL, status TEXT NOT NULL,
            first_label INTEGER, preview TEXT, preview_sha256 TEXT, created_by TEXT NOT NULL,
            created_at TEXT NOT NULL, decided_by TEXT, decided_at TEXT, reason TEXT,
            signature_id INTEGER)""",
        "CREATE INDEX label_jobs_lot ON label_jobs(lot_id)",
    ],
    # Issue 18 (part 4): work instructions as controlled documents (a revision: a stored
    # copy of the file with its sha256, draft -> approved -> superseded, signed), the
    # routing operations a revision applies to, signed training records, and the revision
    # in force recorded on each step.
    [
        """CREATE TABLE instructions (doc_id TEXT NOT NULL, revision TEXT NOT NULL,
            title TEXT NOT NULL, status TEXT NOT NULL, sha256 TEXT NOT NULL,
            size INTEGER NOT NULL, stored_path TEXT NOT NULL, source_name TEXT NOT NULL,
            loaded_by TEXT NOT NULL, loaded_at TEXT NOT NULL, approved_by TEXT,
            approved_at TEXT, signature_id INTEGER, PRIMARY KEY (doc_id, revision))""",
        """CREATE TABLE instruction_ops (doc_id TEXT NOT NULL, revision TEXT NOT NULL,
            part TEXT NOT NULL, op INTEGER NOT NULL, PRIMARY KEY (doc_id, revision, part, op))""",
        "CREATE INDEX instruction_ops_op ON instruction_ops(part, op)",
        """CREATE TABLE trainings (id {pk}, username TEXT NOT NULL REFERENCES users(username),
            doc_id TEXT NOT NULL, revision TEXT NOT NULL, trained_at TEXT NOT NULL,
            trained_by TEXT NOT NULL, signature_id INTEGER)""",
        "CREATE INDEX trainings_user ON trainings(username, doc_id)",
        "CREATE INDEX trainings_doc ON trainings(doc_id, revision)",
        "ALTER TABLE steps ADD COLUMN instruction_doc TEXT",
        "ALTER TABLE steps ADD COLUMN instruction_rev TEXT",
        "CREATE INDEX steps_instruction ON steps(instruction_doc, instruction_rev)",
    ],
    # Issue 15: a lean genealogy. Items get integer keys; an edge is (parent, child, n)
    # of those keys in a table without rowid, with one reverse index; the op, station and
    # time it shares with its step are read from the step (NULL here), kept only for an
    # edge without a step or one that differs from it. `n` is the edge's number (the
    # old `edges.id`: order of recording). `edges` stays, as a view, for the readers of
    # the old columns. The migration event (`genealogy.migrate`) re-images the rows.
    [
        "ALTER TABLE items ADD COLUMN key INTEGER",
        """UPDATE items SET key = r.k FROM (SELECT id, row_number() OVER
            (ORDER BY created_at, id) AS k FROM items) r WHERE items.id = r.id""",
        "CREATE UNIQUE INDEX items_key ON items(key)",
        "ALTER TABLE edges RENAME TO edges_before_genealogy",
        """CREATE TABLE genealogy (parent INTEGER NOT NULL, child INTEGER NOT NULL,
            n BIGINT NOT NULL, qty REAL NOT NULL, step_id INTEGER, feeder TEXT, refdes TEXT,
            op INTEGER, station_id TEXT, at TEXT,
            PRIMARY KEY (parent, child, n)){without_rowid}""",
        # LEFT JOINs: an edge naming an unknown item fails the NOT NULL (nothing migrated).
        """INSERT INTO genealogy (parent, child, n, qty, step_id, feeder, refdes, op,
            station_id, at)
            SELECT p.key, c.key, e.id, e.qty, e.step_id, e.feeder, e.refdes,
                   CASE WHEN s.id IS NOT NULL AND e.op = s.op THEN NULL ELSE e.op END,
                   CASE WHEN s.id IS NOT NULL AND e.station_id = s.station_id THEN NULL
                        ELSE e.station_id END,
                   CASE WHEN s.id IS NOT NULL AND e.at = s.completed_at THEN NULL
                        ELSE e.at END
              FROM edges_before_genealogy e LEFT JOIN items p ON p.id = e.parent
              LEFT JOIN items c ON c.id = e.child LEFT JOIN steps s ON s.id = e.step_id""",
        # the edge numbers go on after the old ids (no row when there were none: a new
        # database, which `mes db copy` then fills with the source's counters)
        """INSERT INTO counters (name, value)
            SELECT 'genealogy.edge', max(id) FROM edges_before_genealogy
            HAVING count(*) > 0""",
        "DROP TABLE edges_before_genealogy",
        "CREATE INDEX genealogy_child ON genealogy(child, parent)",
        """CREATE VIEW edges AS
            SELECT g.n AS id, p.id AS parent, c.id AS child, g.qty,
                   coalesce(g.op, s.op) AS op, g.step_id,
                   coalesce(g.station_id, s.station_id) AS station_id, g.refdes, g.feeder,
                   coalesce(g.at, s.completed_at) AS at
              FROM genealogy g JOIN items p ON p.key = g.parent
              JOIN items c ON c.key = g.child LEFT JOIN steps s ON s.id = g.step_id""",
    ],
]

# Append-only: the database itself refuses to change or remove an audit event.
SQLITE_AUDIT_GUARDS = [
    """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
]

SCHEMA_VERSION = len(MIGRATIONS)
# The schema version from which audit events carry row images (a database migrated from
# before it gets an `audit.baseline` of the rows it had).
ROW_IMAGES_SINCE = 1 + next(i for i, m in enumerate(MIGRATIONS)
                            if any("row_images" in s for s in m))
# The migration (index into MIGRATIONS) that moves `edges` into `genealogy` (issue 15).
GENEALOGY_MIGRATION = next(i for i, m in enumerate(MIGRATIONS)
                           if any(s.startswith("CREATE TABLE genealogy") for s in m))


def ddl(statement: str, dialect: str) -> str:
    """Placeholders of the portable DDL that differ by dialect, other than `{pk}`."""
    return statement.replace("{without_rowid}", " WITHOUT ROWID" if dialect == "sqlite" else "")
