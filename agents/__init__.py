"""Mesa agents (households, retailer), their devices' profiles and trading strategies."""
