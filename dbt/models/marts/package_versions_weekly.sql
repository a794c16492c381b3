{{ top_k_dimension_mart(dimension='version', column_name='version') }}
