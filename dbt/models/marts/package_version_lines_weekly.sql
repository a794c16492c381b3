{#- Release lines (major.minor) of the downloaded versions, from the rollup's
    unfolded version rows: every version counts, not only a week's top K. -#}
{{ top_k_dimension_mart(dimension='version', column_name='release_line', value_sql=release_line('dimension_value')) }}
