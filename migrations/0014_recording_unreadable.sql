-- 0014: A recording FreeSWITCH wrote that ivr-app may not read (file mode or group wrong: see
-- freeswitch/README.md): kept with its path and size, never dropped as missing.
ALTER TYPE recording_status ADD VALUE IF NOT EXISTS 'unreadable';
