"""Events sent again from the archive: the plan a request asks for (``plan``), where each
event goes (``routes``), the survey and the sending (``job``), and the replays a process runs
(``service``)."""
