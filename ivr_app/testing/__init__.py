"""Test and demo support: the throwaway PostgreSQL cluster and the FreeSWITCH simulator."""
