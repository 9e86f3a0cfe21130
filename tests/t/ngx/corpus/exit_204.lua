ngx.exit(ngx.HTTP_NO_CONTENT)
