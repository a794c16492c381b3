{{ top_k_dimension_mart(dimension='file_type', column_name='file_type') }}
