{{ top_k_dimension_mart(dimension='country_code', column_name='country_code') }}
