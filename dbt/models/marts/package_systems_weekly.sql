{{ top_k_dimension_mart(dimension='system', column_name='system') }}
