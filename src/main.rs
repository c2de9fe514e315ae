fn main() {
    std::process::exit(velero_fsb_guard::cli::run());
}
