{{ top_k_dimension_mart(dimension='installer', column_name='installer') }}
