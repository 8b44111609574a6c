--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: __SCHEMA__; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA __SCHEMA__;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: changes; Type: TABLE; Schema: __SCHEMA__; Owner: -
--

CREATE TABLE __SCHEMA__.changes (
    seq bigint NOT NULL,
    kind text NOT NULL,
    user_id text COLLATE pg_catalog."C",
    session_id text COLLATE pg_catalog."C",
    version bigint,
    created_at bigint NOT NULL,
    CONSTRAINT changes_kind_check CHECK ((kind = ANY (ARRAY['user'::text, 'user_deleted'::text, 'session'::text, 'keys'::text])))
);


--
-- Name: changes_seq_seq; Type: SEQUENCE; Schema: __SCHEMA__; Owner: -
--

ALTER TABLE __SCHEMA__.changes ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME __SCHEMA__.changes_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: schema_migrations; Type: TABLE; Schema: __SCHEMA__; Owner: -
--

CREATE TABLE __SCHEMA__.schema_migrations (
    version integer NOT NULL,
    description text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: sessions; Type: TABLE; Schema: __SCHEMA__; Owner: -
--

CREATE TABLE __SCHEMA__.sessions (
    id text NOT NULL COLLATE pg_catalog."C",
    user_id text NOT NULL COLLATE pg_catalog."C",
    status text NOT NULL,
    created_at bigint NOT NULL,
    expire_at bigint NOT NULL,
    last_active_at bigint NOT NULL,
    refresh_hash bytea NOT NULL,
    origin text,
    CONSTRAINT sessions_status_check CHECK ((status = ANY (ARRAY['active'::text, 'revoked'::text, 'ended'::text, 'expired'::text])))
);


--
-- Name: sign_ups; Type: TABLE; Schema: __SCHEMA__; Owner: -
--

CREATE TABLE __SCHEMA__.sign_ups (
    id text NOT NULL COLLATE pg_catalog."C",
    status text NOT NULL,
    unsafe_metadata text NOT NULL,
    created_at bigint NOT NULL,
    user_id text COLLATE pg_catalog."C",
    CONSTRAINT sign_ups_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'complete'::text])))
);


--
-- Name: signing_keys; Type: TABLE; Schema: __SCHEMA__; Owner: -
--

CREATE TABLE __SCHEMA__.signing_keys (
    kid text NOT NULL COLLATE pg_catalog."C",
    alg text NOT NULL,
    private_key bytea NOT NULL,
    public_jwk text NOT NULL,
    created_at bigint NOT NULL,
    retire_at bigint
);


--
-- Name: users; Type: TABLE; Schema: __SCHEMA__; Owner: -
--

CREATE TABLE __SCHEMA__.users (
    id text NOT NULL COLLATE pg_catalog."C",
    external_id text,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    public_metadata text NOT NULL,
    private_metadata text NOT NULL,
    unsafe_metadata text NOT NULL,
    version bigint NOT NULL
);


--
-- Data for Name: changes; Type: TABLE DATA; Schema: __SCHEMA__; Owner: -
--

INSERT INTO __SCHEMA__.changes (seq, kind, user_id, session_id, version, created_at) OVERRIDING SYSTEM VALUE VALUES (1, 'keys', NULL, NULL, NULL, 1790000000000);
INSERT INTO __SCHEMA__.changes (seq, kind, user_id, session_id, version, created_at) OVERRIDING SYSTEM VALUE VALUES (2, 'keys', NULL, NULL, NULL, 1790000008000);
INSERT INTO __SCHEMA__.changes (seq, kind, user_id, session_id, version, created_at) OVERRIDING SYSTEM VALUE VALUES (3, 'user', 'user_wt3ewd8dpzfp407cvq3wckhdv7', NULL, 2, 1790000010000);
INSERT INTO __SCHEMA__.changes (seq, kind, user_id, session_id, version, created_at) OVERRIDING SYSTEM VALUE VALUES (4, 'session', 'user_wt3ewd8dpzfp407cvq3wckhdv7', 'sess_dcbjbz82b7xd4vvs212r5zr58z', NULL, 1790000010000);
INSERT INTO __SCHEMA__.changes (seq, kind, user_id, session_id, version, created_at) OVERRIDING SYSTEM VALUE VALUES (5, 'session', 'user_52ehx2cfnzd1qym3rg2pqgr01d', 'sess_4e3v6n5wryph3rq8tr5gs9d1hr', NULL, 1790000010000);
INSERT INTO __SCHEMA__.changes (seq, kind, user_id, session_id, version, created_at) OVERRIDING SYSTEM VALUE VALUES (6, 'user_deleted', 'user_zb6p4dr05323qcwrabcw8q88x1', NULL, NULL, 1790000010000);


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: __SCHEMA__; Owner: -
--

INSERT INTO __SCHEMA__.schema_migrations (version, description, applied_at) VALUES (1, 'users, sessions, sign-ups, signing keys and the change log', '2026-12-02 21:04:34.340346+00');


--
-- Data for Name: sessions; Type: TABLE DATA; Schema: __SCHEMA__; Owner: -
--

INSERT INTO __SCHEMA__.sessions (id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin) VALUES ('sess_kcma067pgggw8jtmrkcwe76dbt', 'user_4zpnzbkp8thv7g7ktwzhpzfjqw', 'active', 1790000001000, 1790604801000, 1790000001000, '\xb740c98ac42e6f7768fb9298f0d4ddfaa291ac7a4badd2cdccae9d186a42e162', 'https://app.example.com');
INSERT INTO __SCHEMA__.sessions (id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin) VALUES ('sess_z17gs6mnc2rxjzpj276pnhm069', 'user_w40405bsd13gfrpsabdbxvs45v', 'active', 1790000006000, 1790604806000, 1790000006000, '\x76525a4373d0a87de800aaaa16ab0d8567f850ceb5a0ab00333fce4ab08df9f4', 'https://app.example.com');
INSERT INTO __SCHEMA__.sessions (id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin) VALUES ('sess_2ytbgs4277g64mswtanc251m7y', 'user_tkbj2bpn2psht9f8z01ywevca2', 'active', 1790000007000, 1790604807000, 1790000007000, '\xb1eb3903de3f39952a4b45fe3eca111c1f76480f0b2311e1aa0c3dbb17f3a58b', 'https://app.example.com');
INSERT INTO __SCHEMA__.sessions (id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin) VALUES ('sess_4v6186xh329yygch5km6xrcyka', 'user_4zpnzbkp8thv7g7ktwzhpzfjqw', 'active', 1790000009000, 1790604809000, 1790000009000, '\x7d6418f87bc8506a339cd99834a0a983c294911ada900bdc3aa3120908435f9a', 'https://app.example.com');
INSERT INTO __SCHEMA__.sessions (id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin) VALUES ('sess_rwsf5753y88vvd3sfb3rmm6ddv', 'user_w40405bsd13gfrpsabdbxvs45v', 'active', 1790000009000, 1790604809000, 1790000009000, '\xd8347adbb8cab5798c92a438b6420ec3fe025848a8c62961e62d85cb51f6f24b', 'https://app.example.com');
INSERT INTO __SCHEMA__.sessions (id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin) VALUES ('sess_dcbjbz82b7xd4vvs212r5zr58z', 'user_wt3ewd8dpzfp407cvq3wckhdv7', 'revoked', 1790000006000, 1790604806000, 1790000006000, '\x9fed52025eb42ee61d5748b6fbff8b622894843b7c3189fb3e1fa7d222ab5976', 'https://app.example.com');
INSERT INTO __SCHEMA__.sessions (id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin) VALUES ('sess_4e3v6n5wryph3rq8tr5gs9d1hr', 'user_52ehx2cfnzd1qym3rg2pqgr01d', 'ended', 1790000007000, 1790604807000, 1790000007000, '\xe6c3d92a2c60ae033293bb94d00223f9e97e674f0b7ddd6c1570ed3e66f984aa', 'https://app.example.com');
INSERT INTO __SCHEMA__.sessions (id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin) VALUES ('sess_d7g7bb8c25r7a1qxypnyvbfcg9', 'user_zb6p4dr05323qcwrabcw8q88x1', 'revoked', 1790000006000, 1790604806000, 1790000006000, '\x0d5e87ceeab1567e3a7c496b958a039589e14e0c4a1fdb99e2be2e3a81ec8e5f', 'https://app.example.com');
INSERT INTO __SCHEMA__.sessions (id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin) VALUES ('sess_dv2tfzv0mg5n1ej6r8xtvh5tmd', 'user_9v0hvqj0h3aht5b5rzs33ffxz3', 'active', 1790000011000, 1790604811000, 1790000011000, '\x25601edced0383e5565b75803a551912c52762893aec71d0a33f7108079eaafe', 'https://app.example.com');


--
-- Data for Name: sign_ups; Type: TABLE DATA; Schema: __SCHEMA__; Owner: -
--

INSERT INTO __SCHEMA__.sign_ups (id, status, unsafe_metadata, created_at, user_id) VALUES ('sua_mc5mjcbtvdar2hjjjj02pcymm3', 'pending', '{"invite":"abc","step":1}', 1790000011000, NULL);
INSERT INTO __SCHEMA__.sign_ups (id, status, unsafe_metadata, created_at, user_id) VALUES ('sua_rwx3qk7s173v64yxx6cwek7snx', 'complete', '{"nickname":"Joiner"}', 1790000011000, 'user_9v0hvqj0h3aht5b5rzs33ffxz3');


--
-- Data for Name: signing_keys; Type: TABLE DATA; Schema: __SCHEMA__; Owner: -
--

INSERT INTO __SCHEMA__.signing_keys (kid, alg, private_key, public_jwk, created_at, retire_at) VALUES ('XUOJ9hvNSRaJBp-Q37vVMRAJ3Jh-XS4Xkeu1vHtcMEk', 'ES256', '\x2d2d2d2d2d424547494e2050524956415445204b45592d2d2d2d2d0a4d494748416745414d424d4742797147534d34394167454743437147534d343941774548424730776177494241515167505051524c34634d6e49796946614e630a377a4c4935335452704c382b655261505165492b64766c4e6b53536852414e434141525a4871366f35386a766a6f396156656b79726c3044595047624f336d4d0a33527451414a467644696661363044596671463938496a7748593770732b4152384a58624b4e5136507a47646f464245714c6e3665362f4e0a2d2d2d2d2d454e442050524956415445204b45592d2d2d2d2d0a', '{"kty":"EC","crv":"P-256","x":"WR6uqOfI746PWlXpMq5dA2Dxmzt5jN0bUACRbw4n2us","y":"QNh-oX3wiPAdjumz4BHwldso1Do_MZ2gUESoufp7r80","kid":"XUOJ9hvNSRaJBp-Q37vVMRAJ3Jh-XS4Xkeu1vHtcMEk","alg":"ES256","use":"sig"}', 1790000000000, 1790000073000);
INSERT INTO __SCHEMA__.signing_keys (kid, alg, private_key, public_jwk, created_at, retire_at) VALUES ('g18fHTaOoK20NDRpm336zeyZ9kvckH9BSBIWCi04ftU', 'ES256', '\x2d2d2d2d2d424547494e2050524956415445204b45592d2d2d2d2d0a4d494748416745414d424d4742797147534d34394167454743437147534d343941774548424730776177494241515167686d4e61336d616472415871713044720a4939726249516f413134546e327849533837304e6c6d486f7148366852414e4341415267625150554665414c6745686b62525755564c654f326d5650727136560a4c7a45624c4d486d316e73492b785233584861412f74644d357047776f6270574f6e4a756c7338722f77474b57495848763176686576712b0a2d2d2d2d2d454e442050524956415445204b45592d2d2d2d2d0a', '{"kty":"EC","crv":"P-256","x":"YG0D1BXgC4BIZG0VlFS3jtplT66ulS8xGyzB5tZ7CPs","y":"FHdcdoD-10zmkbChulY6cm6Wzyv_AYpYhce_W-F6-r4","kid":"g18fHTaOoK20NDRpm336zeyZ9kvckH9BSBIWCi04ftU","alg":"ES256","use":"sig"}', 1790000008000, NULL);


--
-- Data for Name: users; Type: TABLE DATA; Schema: __SCHEMA__; Owner: -
--

INSERT INTO __SCHEMA__.users (id, external_id, created_at, updated_at, public_metadata, private_metadata, unsafe_metadata, version) VALUES ('user_4zpnzbkp8thv7g7ktwzhpzfjqw', 'ada', 1790000000000, 1790000000000, '{"role":"admin","plan":"pro","b":[3,1,{"z":null,"a":1.5}]}', '{"stripe_id":"cus_123","note":"a\u0000b c","ü":"ß"}', '{"nickname":"Ada 🔑","birthday":"1815-12-10"}', 1);
INSERT INTO __SCHEMA__.users (id, external_id, created_at, updated_at, public_metadata, private_metadata, unsafe_metadata, version) VALUES ('user_tkbj2bpn2psht9f8z01ywevca2', 'dup@example.com', 1790000003000, 1790000003000, '{"role":"member"}', '{}', '{}', 1);
INSERT INTO __SCHEMA__.users (id, external_id, created_at, updated_at, public_metadata, private_metadata, unsafe_metadata, version) VALUES ('user_52ehx2cfnzd1qym3rg2pqgr01d', 'dup@example.com', 1790000004000, 1790000004000, '{}', '{}', '{"nickname":"second"}', 1);
INSERT INTO __SCHEMA__.users (id, external_id, created_at, updated_at, public_metadata, private_metadata, unsafe_metadata, version) VALUES ('user_wt3ewd8dpzfp407cvq3wckhdv7', 'grace@example.com', 1790000001000, 1790000010000, '{"role":"editor","plan":"free"}', '{"crm":{"id":42,"tags":["navy","cobol"]}}', '{"nickname":"Amazing"}', 2);
INSERT INTO __SCHEMA__.users (id, external_id, created_at, updated_at, public_metadata, private_metadata, unsafe_metadata, version) VALUES ('user_w40405bsd13gfrpsabdbxvs45v', NULL, 1790000002000, 1790000010000, '{"plan":"team"}', '{"seen":true}', '{}', 1);
INSERT INTO __SCHEMA__.users (id, external_id, created_at, updated_at, public_metadata, private_metadata, unsafe_metadata, version) VALUES ('user_9v0hvqj0h3aht5b5rzs33ffxz3', NULL, 1790000011000, 1790000011000, '{}', '{}', '{"nickname":"Joiner"}', 1);


--
-- Name: changes_seq_seq; Type: SEQUENCE SET; Schema: __SCHEMA__; Owner: -
--

SELECT pg_catalog.setval('__SCHEMA__.changes_seq_seq', 6, true);


--
-- Name: changes changes_pkey; Type: CONSTRAINT; Schema: __SCHEMA__; Owner: -
--

ALTER TABLE ONLY __SCHEMA__.changes
    ADD CONSTRAINT changes_pkey PRIMARY KEY (seq);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: __SCHEMA__; Owner: -
--

ALTER TABLE ONLY __SCHEMA__.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: sessions sessions_pkey; Type: CONSTRAINT; Schema: __SCHEMA__; Owner: -
--

ALTER TABLE ONLY __SCHEMA__.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);


--
-- Name: sign_ups sign_ups_pkey; Type: CONSTRAINT; Schema: __SCHEMA__; Owner: -
--

ALTER TABLE ONLY __SCHEMA__.sign_ups
    ADD CONSTRAINT sign_ups_pkey PRIMARY KEY (id);


--
-- Name: signing_keys signing_keys_pkey; Type: CONSTRAINT; Schema: __SCHEMA__; Owner: -
--

ALTER TABLE ONLY __SCHEMA__.signing_keys
    ADD CONSTRAINT signing_keys_pkey PRIMARY KEY (kid);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: __SCHEMA__; Owner: -
--

ALTER TABLE ONLY __SCHEMA__.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);


--
-- Name: changes_created_at; Type: INDEX; Schema: __SCHEMA__; Owner: -
--

CREATE INDEX changes_created_at ON __SCHEMA__.changes USING btree (created_at);


--
-- Name: sessions_created_at; Type: INDEX; Schema: __SCHEMA__; Owner: -
--

CREATE INDEX sessions_created_at ON __SCHEMA__.sessions USING btree (created_at, id);


--
-- Name: sessions_user_id; Type: INDEX; Schema: __SCHEMA__; Owner: -
--

CREATE INDEX sessions_user_id ON __SCHEMA__.sessions USING btree (user_id, created_at, id);


--
-- Name: users_created_at; Type: INDEX; Schema: __SCHEMA__; Owner: -
--

CREATE INDEX users_created_at ON __SCHEMA__.users USING btree (created_at, id);


--
-- PostgreSQL database dump complete
--


