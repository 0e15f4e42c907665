"""Migration 4: declarations, versioned risk profiles, risk scores, officers' outcomes and fusion state.

* ``declarations``: one row per :class:`cedetect.declarations.Declaration` (every field), upserted on
  ``declaration_id``.  ``match_keys`` holds the normalised plates and container codes (A-Z0-9) and
  ``fuzzy_keys`` each of them with one character deleted: a read that is one substitution, insertion
  or deletion away from a key shares a fuzzy key with it, so a GIN index finds the candidates of a
  one-character OCR error without scanning (the distance is then checked exactly).
* ``risk_profiles``: every version of every profile (``body`` is the profile document); exactly one
  version per profile is ``active`` (a partial unique index), and each version says who changed it,
  when and why.
* ``risk_scores``: the latest score of a declaration under each model version.
* ``outcomes``: what officers found (``seizure``, ``nothing_found``...) for an alert and/or a
  declaration; these are the labels of the next training run.
* ``declaration_evidence``: reads and anomalies linked to a declaration by the fusion worker.
* ``fusion_state``: the fusion worker's ``stored_seq`` watermark per source table (``detections``,
  ``anomalies``, and ``declarations``, whose ``stored_seq`` is taken anew on every upsert).
"""

from __future__ import annotations

import psycopg

DECLARATIONS_DDL = """
CREATE TABLE declarations (
    declaration_id              text PRIMARY KEY,
    date                        date             NOT NULL,
    office_id                   text             NOT NULL,
    process_type                text             NOT NULL,
    import_type                 text             NOT NULL,
    import_use                  text             NOT NULL,
    payment_type                text             NOT NULL,
    mode_of_transport           text             NOT NULL,
    declarant_id                text             NOT NULL,
    importer_id                 text             NOT NULL,
    seller_id                   text,
    courier_id                  text,
    hs6_code                    text             NOT NULL,
    country_of_departure        text             NOT NULL,
    country_of_origin           text             NOT NULL,
    tax_rate_pct                double precision NOT NULL,
    tax_type                    text             NOT NULL,
    country_of_origin_indicator text             NOT NULL,
    net_mass_kg                 double precision NOT NULL,
    item_price_krw              double precision NOT NULL,
    fraud                       smallint CHECK (fraud IN (0, 1)),
    critical_fraud              smallint CHECK (critical_fraud IN (0, 1, 2)),
    vehicle_plate               text,
    trailer_plate               text,
    container_codes             text[]           NOT NULL DEFAULT '{}',
    corridor_id                 text,
    route                       jsonb,
    expected_post               text,
    expected_from_utc           timestamptz,
    expected_until_utc          timestamptz,
    tracker_device_id           text,
    match_keys                  text[]           NOT NULL DEFAULT '{}',
    fuzzy_keys                  text[]           NOT NULL DEFAULT '{}',
    source                      text             NOT NULL DEFAULT 'api',
    -- Taken again on every upsert: the fusion worker links earlier evidence to new or changed declarations.
    stored_seq                  bigserial        NOT NULL,
    stored_utc                  timestamptz      NOT NULL DEFAULT now(),
    updated_utc                 timestamptz      NOT NULL DEFAULT now()
)
"""


def migration_4(conn: psycopg.Connection) -> None:
    conn.execute(DECLARATIONS_DDL)
    conn.execute("CREATE INDEX declarations_date ON declarations (date DESC)")
    conn.execute("CREATE INDEX declarations_stored_seq ON declarations (stored_seq)")
    conn.execute("CREATE INDEX declarations_match_keys ON declarations USING gin (match_keys)")
    conn.execute("CREATE INDEX declarations_fuzzy_keys ON declarations USING gin (fuzzy_keys)")
    conn.execute(
        "CREATE INDEX declarations_tracker ON declarations (tracker_device_id) WHERE tracker_device_id IS NOT NULL"
    )
    conn.execute(
        """
        CREATE TABLE risk_profiles (
            profile_id  text        NOT NULL,
            version     integer     NOT NULL CHECK (version >= 1),
            body        jsonb       NOT NULL,
            valid_from  date,
            valid_until date,
            active      boolean     NOT NULL DEFAULT true,
            changed_by  text        NOT NULL,
            changed_utc timestamptz NOT NULL DEFAULT now(),
            comment     text        NOT NULL,
            PRIMARY KEY (profile_id, version),
            CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from)
        )
        """
    )
    conn.execute("CREATE UNIQUE INDEX risk_profiles_one_active ON risk_profiles (profile_id) WHERE active")
    conn.execute(
        """
        CREATE TABLE risk_scores (
            declaration_id text             NOT NULL REFERENCES declarations ON DELETE CASCADE,
            model_version  text             NOT NULL,
            risk_score     double precision NOT NULL CHECK (risk_score BETWEEN 0 AND 1),
            lane           text             NOT NULL CHECK (lane IN ('red', 'yellow', 'blue', 'green')),
            reasons        jsonb            NOT NULL DEFAULT '[]',
            scored_utc     timestamptz      NOT NULL DEFAULT now(),
            PRIMARY KEY (declaration_id, model_version)
        )
        """
    )
    conn.execute("CREATE INDEX risk_scores_latest ON risk_scores (declaration_id, scored_utc DESC)")
    conn.execute("CREATE INDEX risk_scores_score ON risk_scores (risk_score DESC)")
    conn.execute(
        """
        CREATE TABLE outcomes (
            outcome_id     uuid PRIMARY KEY,
            alert_id       uuid,
            declaration_id text,
            outcome        text        NOT NULL,
            officer        text        NOT NULL,
            notes          text        NOT NULL DEFAULT '',
            time_utc       timestamptz NOT NULL,
            recorded_utc   timestamptz NOT NULL DEFAULT now(),
            CHECK (alert_id IS NOT NULL OR declaration_id IS NOT NULL)
        )
        """
    )
    conn.execute("CREATE INDEX outcomes_declaration ON outcomes (declaration_id, time_utc DESC)")
    conn.execute("CREATE INDEX outcomes_alert ON outcomes (alert_id)")
    conn.execute(
        """
        CREATE TABLE declaration_evidence (
            declaration_id text        NOT NULL REFERENCES declarations ON DELETE CASCADE,
            evidence_kind  text        NOT NULL CHECK (evidence_kind IN ('detection', 'anomaly')),
            evidence_id    uuid        NOT NULL,
            match          text        NOT NULL,
            matched_key    text,
            linked_utc     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (declaration_id, evidence_kind, evidence_id)
        )
        """
    )
    conn.execute("CREATE INDEX declaration_evidence_by_evidence ON declaration_evidence (evidence_kind, evidence_id)")
    # Alerts raised on a declaration (fusion puts its id in the details), for GET /declarations/{id}.
    conn.execute("CREATE INDEX alerts_declaration ON alerts ((details->>'declaration_id'))")
    conn.execute(
        """
        CREATE TABLE fusion_state (
            source      text PRIMARY KEY,
            last_seq    bigint      NOT NULL DEFAULT 0,
            updated_utc timestamptz NOT NULL DEFAULT now()
        )
        """
    )
