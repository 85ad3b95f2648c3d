"""Evidence: fixity (manifest and hashes), provenance of each capture, signing, and `archiver verify`."""
