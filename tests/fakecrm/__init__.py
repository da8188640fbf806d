"""Local stand-ins for the CRMs' REST APIs, written from the vendors' public references, served on 127.0.0.1."""
