# ngx.header.Status is a plain header under ngx_lua: luafcgid keeps it for
# reading back and never sends it, since a web server reads a second
# Status line as the answer's status (the first or the last) or refuses
# an answer whose Status is no status. ngx.status stays the status.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest;

my $t = LFTest->new(conf => { workers => 1 });
$t->script('status.lua', <<'LUA');
ngx.header["Status"] = ngx.unescape_uri(ngx.var.arg_v)
ngx.header["X-Kept"] = "yes"
ngx.say(ngx.header.status, " ", ngx.status)
LUA
$t->start;
for my $v ('404 Nope', 'nope') {
    (my $q = $v) =~ s/ /%20/g;
    my $r = $t->get('status.lua', QUERY_STRING => "v=$q");
    is($r->{headers}{status}, '200 OK', "ngx.header.Status = \"$v\": one Status line, the answer's");
    is($r->{body}, "$v 0\n", "read back as set; ngx.status unset (0), as in ngx_lua");
    is($r->{headers}{'x-kept'}, 'yes', 'and the other headers sent');
}
$t->stop;
done_testing;
