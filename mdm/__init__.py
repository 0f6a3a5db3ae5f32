"""Customer master data: entity resolution of ERP customers, CRM accounts, bank payers and bureau
subjects into one customer with a stable id (see :mod:`mdm.resolve`)."""
