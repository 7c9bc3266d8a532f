"""fakeswitch: a FreeSWITCH 1.10 simulator for tests and the demo, speaking the real ESL wire."""
