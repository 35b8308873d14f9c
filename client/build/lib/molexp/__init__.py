"""molexp"""
