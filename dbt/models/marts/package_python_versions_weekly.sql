{{ top_k_dimension_mart(dimension='python_version', column_name='python_version') }}
