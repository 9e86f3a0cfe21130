# ngx.req.read_body reads a body under 1.25 times upload_memory into
# memory, as nginx does; one the state's `memory` could not hold goes to a
# file instead, so a big upload_memory beside a small memory does not end
# the request with a 500 where nginx, which has no such limit, answers.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest;

my $t = LFTest->new(conf => { workers => 1, memory => 2 * 1024 * 1024, upload_memory => 3 * 1024 * 1024,
                              maxpost => 8 * 1024 * 1024 });
my $read = <<'LUA';
ngx.req.read_body()
local d, f = ngx.req.get_body_data(), ngx.req.get_body_file()
local n = d and #d
if f then local h = io.open(f, "rb"); n = h:seek("end"); h:close() end
ngx.say(d and "data" or "no data", " ", f and "file" or "no file", " ", tostring(n))
LUA
$t->script('read.lua', $read);
$t->start;
my $big = 3_500_000;
my $r = $t->get('read.lua', STDIN => 'x' x $big);
is($r->{status} // 200, 200, 'a body memory cannot hold is answered');
is($r->{body}, "no data file $big\n", 'it is read into a file, whole');
$r = $t->get('read.lua', STDIN => 'y' x 1000);
is($r->{body}, "data no file 1000\n", 'a small one after it is in memory');
is($t->stop, 0, 'stopped cleanly');

# near the line: bodies under 1.25 times upload_memory that memory holds
# only once (the body is gathered, then made a string), and one read
# after a request that left its garbage in the state
$t = LFTest->new(conf => { workers => 1, memory => 3 * 1024 * 1024, upload_memory => 1024 * 1024,
                           maxpost => 8 * 1024 * 1024 });
$t->script('read.lua', $read);
$t->start;
for my $n (1_050_000, 1_200_000, 1_300_000, 1_200_000, 1_300_000) {
    $r = $t->get('read.lua', STDIN => 'z' x $n);
    is($r->{status} // 200, 200, "a body of $n bytes is answered");
    like($r->{body}, qr/\A(?:data no file|no data file) $n\n\z/, "and read whole") or diag($r->{body});
}
is($t->stop, 0, 'stopped cleanly');
done_testing();
