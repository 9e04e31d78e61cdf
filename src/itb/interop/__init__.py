"""The clinic's record in other systems' formats: FHIR R4 resources for the hospital's record.

``fhir_codes``: the code systems and codes (LOINC, SNOMED CT, UCUM, HL7's, and ITB's own where
none exists); ``fhir_resources`` and ``fhir_observations``: one patient's records as resources;
``fhir_bundle``: bundles, the CapabilityStatement, OperationOutcome; ``fhir_import``: the
hospital's Patient resources as patients to register. Read side only: nothing here writes.
"""
