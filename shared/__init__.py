"""paymesh's common runtime: event catalog, money, stores, publishing and the CloudEvents runtime."""
