"""The clinician programmer: its link to the pump (``link``), its record of every change it sent
(``record``) and the clinical workflows over them (``workflows``)."""
