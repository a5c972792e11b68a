-- Generated from trackdag/catalog/models.py by trackdag.catalog.migrations.write_tables_sql(); do not edit.

CREATE TABLE IF NOT EXISTS runs (
	run_id VARCHAR NOT NULL, 
	argv JSON, 
	params_text VARCHAR, 
	pipeline_ref VARCHAR, 
	root VARCHAR NOT NULL, 
	backend VARCHAR NOT NULL, 
	workers INTEGER, 
	host VARCHAR NOT NULL, 
	"user" VARCHAR, 
	pid INTEGER NOT NULL, 
	git_sha VARCHAR, 
	trackdag_version VARCHAR NOT NULL, 
	started TIMESTAMP WITH TIME ZONE NOT NULL, 
	ended TIMESTAMP WITH TIME ZONE, 
	status VARCHAR NOT NULL, 
	n_rows INTEGER, 
	n_jobs INTEGER, 
	n_done INTEGER, 
	n_failed INTEGER, 
	n_skipped INTEGER, 
	n_cached INTEGER, 
	env_id VARCHAR, 
	python VARCHAR, 
	git_dirty BOOLEAN, 
	git_diff_hash VARCHAR, 
	PRIMARY KEY (run_id)
);

CREATE TABLE IF NOT EXISTS jobs (
	job_id VARCHAR NOT NULL, 
	short_id VARCHAR NOT NULL, 
	node VARCHAR NOT NULL, 
	folder VARCHAR NOT NULL, 
	command VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	requested JSON, 
	resolved JSON, 
	first_run VARCHAR NOT NULL, 
	last_run VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	started TIMESTAMP WITH TIME ZONE, 
	ended TIMESTAMP WITH TIME ZONE, 
	error VARCHAR, 
	result_status VARCHAR, 
	result_error VARCHAR, 
	PRIMARY KEY (job_id)
);

CREATE TABLE IF NOT EXISTS run_jobs (
	run_id VARCHAR NOT NULL, 
	row_index INTEGER NOT NULL, 
	job_id VARCHAR NOT NULL, 
	PRIMARY KEY (run_id, row_index, job_id)
);

CREATE TABLE IF NOT EXISTS edges (
	parent_id VARCHAR NOT NULL, 
	child_id VARCHAR NOT NULL, 
	PRIMARY KEY (parent_id, child_id)
);

CREATE TABLE IF NOT EXISTS params (
	job_id VARCHAR NOT NULL, 
	key VARCHAR NOT NULL, 
	node VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	value JSON, 
	value_num DOUBLE PRECISION, 
	value_text VARCHAR, 
	value_bool BOOLEAN, 
	PRIMARY KEY (job_id, key)
);

CREATE TABLE IF NOT EXISTS attempts (
	job_id VARCHAR NOT NULL, 
	attempt INTEGER NOT NULL, 
	run_id VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	exit_code INTEGER, 
	signal INTEGER, 
	started TIMESTAMP WITH TIME ZONE, 
	ended TIMESTAMP WITH TIME ZONE, 
	duration DOUBLE PRECISION, 
	host VARCHAR, 
	node_id VARCHAR, 
	pid INTEGER, 
	peak_rss_kb BIGINT, 
	stderr_tail VARCHAR, 
	error VARCHAR, 
	PRIMARY KEY (job_id, attempt)
);

CREATE TABLE IF NOT EXISTS results (
	job_id VARCHAR NOT NULL, 
	key VARCHAR NOT NULL, 
	value_num DOUBLE PRECISION, 
	value_text VARCHAR, 
	ord INTEGER, 
	PRIMARY KEY (job_id, key)
);

CREATE TABLE IF NOT EXISTS environments (
	env_id VARCHAR NOT NULL, 
	python VARCHAR NOT NULL, 
	platform VARCHAR NOT NULL, 
	packages VARCHAR NOT NULL, 
	created TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (env_id)
);

CREATE TABLE IF NOT EXISTS schema_version (
	version INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	applied TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (version)
);

