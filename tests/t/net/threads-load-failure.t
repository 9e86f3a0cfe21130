# A script whose first run (the state's load) spawns light threads and then
# fails there on a limit (the request's timeout, the memory limit) has its
# state closed; its threads' records go with it, as at any request's end
# (net_lua_end): nothing of them is left behind in the daemon for every
# such request. Under AddressSanitizer, whose leak report must be empty.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Temp;
use LFTest;

plan skip_all => 'no ASan build (LUAFCGID_ASAN)' unless $ENV{LUAFCGID_ASAN} && -x $ENV{LUAFCGID_ASAN};
my $reports = File::Temp::tempdir('lf-asan.XXXXXX', TMPDIR => 1, CLEANUP => 1);
local $ENV{LUAFCGID} = $ENV{LUAFCGID_ASAN};
local $ENV{ASAN_OPTIONS} = "halt_on_error=0 log_path=$reports/asan detect_leaks=1";
local $ENV{UBSAN_OPTIONS} = "print_stacktrace=1 log_path=$reports/ubsan";

my $t = LFTest->new(conf => { workers => 1, timeout => 1, memory => 8 * 1024 * 1024 });
$t->script('load.lua', <<'LUA');
for i = 1, 50 do ngx.thread.spawn(function() ngx.sleep(100) end) end
if ngx.var.arg_q == "memory" then
  local t = {}
  while true do t[#t + 1] = string.rep("x", 4096) .. #t end
end
ngx.sleep(100)
LUA
$t->start;
for my $q (qw(memory memory timeout)) {
    my $r = $t->get('load.lua', QUERY_STRING => "q=$q");
    is($r->{status}, 500, "$q at the first run: a 500");
    like($r->{body}, $q eq 'memory' ? qr/memory limit/ : qr/timeout|ran over/, "$q: says why");
}
$t->stop;
opendir(my $d, $reports);
my @found = grep { !/^\./ } readdir $d;
is("@found", '', 'no sanitizer report (no leak)')
    or diag join '', map { LFTest::slurp("$reports/$_") =~ /(.*?SUMMARY[^\n]*)/s ? $1 : '' } @found;
done_testing;
