"""Generated from protos/spinerad/v1 by ``python -m spinerad.service.codegen``; do not edit."""
